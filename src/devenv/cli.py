"""Command line: argparse, lazy dispatch to ``devenv.commands``, and the one error boundary.

Command modules are imported only when their verb runs, and the plain forms of attach and
exec (``devenv [PATH]``, ``devenv exec PATH -- CMD``) skip argparse when their environment
already runs (:mod:`devenv.envs.fast`), so they stay fast (DESIGN §3.8).
"""

from __future__ import annotations

import sys

from devenv import __version__
from devenv.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_PRE_CHILD, DevenvError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence
    from typing import Any

VERBS = ("shell", "up", "exec", "list", "stop", "rm", "logs", "build", "images", "gc", "init",
         "config", "tools", "help")
# Verbs that hand over to a child: devenv's own failures use 125 so scripts can tell them
# apart from the child's exit code (docker's convention).
PASSTHROUGH = ("shell", "exec")

EPILOG = """\
exit codes: 0 ok, 1 failed, 2 usage, 3 internal error, 4 conflict (name or port),
5 not found, 6 Docker unavailable, 7 bad config, 125 exec/attach failed before the command ran,
130 interrupted; exec and the shell pass the command's own exit code through.
environment: DEVENV_HOME (all of devenv's files), DEVENV_SSH_PORT, DEVENV_PORT_RANGE=LOW-HIGH,
DEVENV_DEBUG=1 (log every command devenv runs)."""


def _parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        prog="devenv",
        description="Isolated, long-lived, SSH-reachable development environments per project.",
        usage="devenv [PATH] [--port N] [--name NAME]\n       devenv VERB ...",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"devenv {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", title="verbs", prog="devenv")

    def start_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("path", nargs="?", default=".", metavar="PATH",
                       help="project directory (default: .)")
        p.add_argument("--port", type=int, metavar="N",
                       help="host SSH port (default: $DEVENV_SSH_PORT, else ssh_port from "
                            "the project config, else the remembered or a new one)")
        p.add_argument("--name", metavar="NAME",
                       help="environment name (default: <parent>-<basename> of PATH)")

    shell = verbs.add_parser(
        "shell", help="start if needed and attach a shell (the default verb: devenv [PATH])",
        description="Start the project's environment if it is not running, then attach an "
                    "interactive shell in the project directory. Every session is equal; "
                    "leaving it never stops the environment.")
    start_options(shell)

    up = verbs.add_parser("up", help="start if needed; print name, SSH port and ssh command",
                          description="Start the project's environment if it is not running "
                                      "and print how to reach it.")
    start_options(up)
    up.add_argument("--json", action="store_true", help="print JSON for scripts")
    up.add_argument("--recreate", action="store_true",
                    help="replace a running environment's container, applying config "
                         "changes (the home volume is kept; post_create runs again)")
    up.add_argument("--rebuild", action="store_true",
                    help="rebuild the tool and project layers without cache, then "
                         "--recreate (the default image is rebuilt only when it changes)")

    ex = verbs.add_parser(
        "exec", help="run a command in the environment (starts it if needed)",
        usage="devenv exec [--name NAME] PATH -- CMD...",
        description="Run a non-interactive command in the project's environment, in the "
                    "project directory; output streams, and its exit code passes through.")
    ex.add_argument("--name", metavar="NAME", help="environment name (as for up)")
    ex.add_argument("path", metavar="PATH", help="project directory")
    ex.add_argument("command", nargs="...", metavar="CMD", help="the command, after --")

    ls = verbs.add_parser("list", help="list environments",
                          description="List this devenv's environments: name, project path, "
                                      "SSH port, status, started, image.")
    ls.add_argument("--json", action="store_true", help="print JSON for scripts")
    ls.add_argument("--all", action="store_true", dest="include_stopped",
                    help="also list stopped projects and containers in other states")

    st = verbs.add_parser("stop", help="stop environments",
                          usage="devenv stop PATH|NAME... | --all",
                          description="Stop environments given by project path or name.")
    st.add_argument("targets", nargs="*", metavar="PATH|NAME")
    st.add_argument("--all", action="store_true", dest="all_", help="stop every environment")

    rm = verbs.add_parser("rm", help="forget environments (state, keys; --volumes: home too)",
                          usage="devenv rm PATH|NAME... [--volumes]",
                          description="Stop and forget environments: devenv's state, keys and "
                                      "hook logs. The project's files are never touched; the "
                                      "home volume is removed only with --volumes.")
    rm.add_argument("targets", nargs="+", metavar="PATH|NAME")
    rm.add_argument("--volumes", action="store_true", help="also remove the home volume")

    lg = verbs.add_parser("logs", help="show the output of post_create/post_start hooks")
    lg.add_argument("target", nargs="?", default=".", metavar="PATH|NAME")

    bd = verbs.add_parser("build", help="build the project's image chain (tools, Dockerfile)",
                          description="Build the project's images: the default image, one "
                                      "layer per tool (shared between projects), then the "
                                      "project's own Dockerfile; cached layers are reused.")
    bd.add_argument("path", nargs="?", default=".", metavar="PATH")
    bd.add_argument("--no-cache", action="store_true", help="rebuild every layer")

    im = verbs.add_parser("images", help="list devenv's images and what uses them")
    im.add_argument("--json", action="store_true", help="print JSON for scripts")

    gc = verbs.add_parser("gc", help="remove devenv images and volumes nothing uses",
                          description="Remove devenv images no container runs and no known "
                                      "project would start from, and home volumes of "
                                      "environments devenv no longer knows; lists them first.")
    gc.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    gc.add_argument("--dry-run", action="store_true", help="only list what would be removed")

    it = verbs.add_parser("init", help="write .devenv/devenv.toml (optionally from a template)",
                          description="Write .devenv/devenv.toml, and a Dockerfile when the "
                                      "template has one. Templates: python, node, go, rust, "
                                      "agents. Existing files are kept unless --force.")
    it.add_argument("path", nargs="?", default=".", metavar="PATH")
    it.add_argument("--template", metavar="NAME", help="python, node, go, rust or agents")
    it.add_argument("--force", action="store_true", help="overwrite existing files")

    cf = verbs.add_parser("config", help="show the effective config and where values come from")
    cf.add_argument("path", nargs="?", default=".", metavar="PATH")
    cf.add_argument("--json", action="store_true", help="print JSON for scripts")

    tl = verbs.add_parser("tools", help="list the tool recipes (catalogue, yours, the project's)")
    tl.add_argument("path", nargs="?", default=".", metavar="PATH")
    tl.add_argument("--json", action="store_true", help="print JSON for scripts")

    hp = verbs.add_parser("help", help="show help for devenv or a verb")
    hp.add_argument("topic", nargs="?", choices=[v for v in VERBS if v != "help"],
                    metavar="VERB")
    return parser


def _normalise(argv: list[str]) -> list[str]:
    """``devenv [PATH] ...`` is ``devenv shell [PATH] ...``."""
    if not argv or (argv[0] not in VERBS and argv[0] not in ("-h", "--help", "--version")):
        return ["shell", *argv]
    return argv


def _before_dashes(argv: list[str]) -> list[str]:
    """For ``exec``, only what comes before the first ``--`` is devenv's to parse."""
    return argv[:argv.index("--")] if argv[:1] == ["exec"] and "--" in argv else argv


# verb -> (module in devenv.commands, how to call its run() with the parsed arguments)
_HANDLERS: dict[str, tuple[str, Callable[[Any, argparse.Namespace], int]]] = {
    "shell": ("shell", lambda m, a: m.run(a.path, port=a.port, name=a.name)),
    "up": ("up", lambda m, a: m.run(a.path, port=a.port, name=a.name, as_json=a.json,
                                    recreate=a.recreate, rebuild=a.rebuild)),
    "exec": ("execute", lambda m, a: m.run(a.path, list(a.command), name=a.name)),
    "list": ("listing", lambda m, a: m.run(as_json=a.json, include_stopped=a.include_stopped)),
    "stop": ("stop", lambda m, a: m.run(a.targets, all_=a.all_)),
    "rm": ("rm", lambda m, a: m.run(a.targets, volumes=a.volumes)),
    "gc": ("gc", lambda m, a: m.run(yes=a.yes, dry_run=a.dry_run)),
    "logs": ("logs", lambda m, a: m.run(a.target)),
    "build": ("build", lambda m, a: m.run(a.path, no_cache=a.no_cache)),
    "images": ("images", lambda m, a: m.run(as_json=a.json)),
    "init": ("init", lambda m, a: m.run(a.path, template=a.template, force=a.force)),
    "config": ("show_config", lambda m, a: m.run(a.path, as_json=a.json)),
    "tools": ("tools", lambda m, a: m.run(a.path, as_json=a.json)),
}


def _dispatch(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.verb == "help":
        parser.parse_args([args.topic, "--help"] if args.topic else ["--help"])
        return 0
    if args.verb not in _HANDLERS:
        parser.print_help()
        return 0
    import importlib

    module, call = _HANDLERS[args.verb]
    return call(importlib.import_module(f"devenv.commands.{module}"), args)


def _fast(argv: list[str]) -> None:
    """Attach/exec without argparse when the environment already runs; returns only when the
    fast path does not apply (the full path then validates and starts)."""
    if argv[0] == "exec" and len(argv) > 3 and argv[2] == "--" and not argv[1].startswith("-"):
        path, command, tty = argv[1], argv[3:], False
    elif argv[0] == "shell" and len(argv) <= 2 and not any(a.startswith("-") for a in argv[1:]):
        path, command = (argv[1] if len(argv) == 2 else "."), ["bash", "-l"]
        tty = sys.stdin.isatty() and sys.stdout.isatty()
    else:
        return
    from devenv.envs import fast

    target = fast.lookup(path)
    if target is not None:
        from devenv import proc

        proc.exec_replace(fast.exec_argv(target, command, tty=tty))


def main(argv: Sequence[str] | None = None) -> int:
    """Run devenv with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    args_list = _normalise(list(sys.argv[1:] if argv is None else argv))
    verb = args_list[0] if args_list and args_list[0] in VERBS else None
    try:
        if verb in PASSTHROUGH:
            _fast(args_list)
        parser = _parser()
        args = parser.parse_args(_before_dashes(args_list))
        if verb == "exec" and "--" in args_list:
            # Everything after the first "--" is the command, verbatim (argparse would also
            # eat a second "--" that belongs to the command).
            args.command = args_list[args_list.index("--") + 1:]
        return _dispatch(args, parser)
    except DevenvError as e:
        print(f"devenv: error: {e.message}", file=sys.stderr)
        if e.hint:
            print(f"devenv: hint: {e.hint}", file=sys.stderr)
        return EXIT_PRE_CHILD if verb in PASSTHROUGH else e.exit_code
    except KeyboardInterrupt:
        print("devenv: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SystemExit as e:  # argparse: --help, --version, usage errors
        return e.code if isinstance(e.code, int) else 0 if e.code is None else 2
    except Exception as e:  # noqa: BLE001 - the one place unexpected errors are reported
        log = _crash_log(e)
        print(f"devenv: internal error: {type(e).__name__}: {e}", file=sys.stderr)
        print(f"devenv: hint: please report it; details are in {log}", file=sys.stderr)
        return EXIT_INTERNAL


def _crash_log(error: BaseException) -> str:
    import platform
    import traceback

    from devenv.paths import ensure_private_dir, log_dir

    try:
        path = ensure_private_dir(log_dir()) / "crash.log"
        with open(path, "a") as f:
            f.write(f"devenv {__version__} python {platform.python_version()} "
                    f"argv {sys.argv!r}\n")
            f.write("".join(traceback.format_exception(error)))
            f.write("\n")
        return str(path)
    except OSError:
        return "(the log could not be written)"


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
