"""Command line: argparse, lazy dispatch to ``devenv.commands``, and the one error boundary.

Command modules are imported only when their verb runs, and the plain forms of attach and
exec (``devenv [PATH]``, ``devenv exec PATH -- CMD``) skip argparse when their environment
already runs (:mod:`devenv.envs.reach`), so they stay fast (docs/architecture.md,
start-up); so does a plain ``devenv list`` (:mod:`devenv.envs.quicklist`), and
``--version`` answers at once.
"""

from __future__ import annotations

import sys

from devenv import __version__
from devenv.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_PRE_CHILD,
    DevenvError,
    exit_code_of,
    safe_text,
)
from devenv.runtime.errors import RuntimeFailure

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence
    from typing import Any

VERBS = ("shell", "up", "exec", "cp", "list", "stop", "rm", "logs", "trust", "build", "images",
         "gc", "init", "config", "tools", "ssh", "ssh-config", "wezterm", "sessions", "workspace",
         "help")
# Verbs that hand over to a child: devenv's own failures use 125 so scripts can tell them
# apart from the child's exit code (docker's convention).
PASSTHROUGH = ("shell", "exec", "ssh")




def _normalise(argv: list[str]) -> list[str]:
    """``devenv [PATH] ...`` is ``devenv shell [PATH] ...``."""
    if not argv or (argv[0] not in VERBS and argv[0] not in ("-h", "--help", "--version")):
        return ["shell", *argv]
    return argv


def _before_dashes(argv: list[str]) -> list[str]:
    """For verbs that take a command, only what comes before the first ``--`` is
    devenv's."""
    verb_takes_command = argv[:1] in (["exec"], ["ssh"], ["shell"])
    return argv[:argv.index("--")] if verb_takes_command and "--" in argv else argv


# verb -> (module in devenv.commands, how to call its run() with the parsed arguments)
_HANDLERS: dict[str, tuple[str, Callable[[Any, argparse.Namespace], int]]] = {
    "shell": ("shell", lambda m, a: m.run(a.path, port=a.port, name=a.name,
                                          session=a.session, command=list(a.command),
                                          workspace=a.workspace,
                                          here=a.here, grant_write=a.grant_write)),
    "sessions": ("sessions", lambda m, a: m.run(a.target, as_json=a.json, kill=a.kill)),
    "up": ("up", lambda m, a: m.run(a.path, port=a.port, name=a.name, as_json=a.json,
                                    recreate=a.recreate, rebuild=a.rebuild, force=a.force,
                                    here=a.here, grant_write=a.grant_write)),
    "exec": ("execute", lambda m, a: m.run(a.path, list(a.command), name=a.name,
                                           host=a.host, cwd=a.cwd, timeout=a.timeout,
                                           here=a.here, grant_write=a.grant_write)),
    "cp": ("cp", lambda m, a: m.run(a.src, a.dest)),
    "list": ("listing", lambda m, a: m.run(as_json=a.json, include_stopped=a.include_stopped)),
    "stop": ("stop", lambda m, a: m.run(a.targets, all_=a.all_, force=a.force,
                                        grace=a.grace)),
    "rm": ("rm", lambda m, a: m.run(a.targets, volumes=a.volumes, force=a.force,
                                    revoke_write=a.revoke_write)),
    "gc": ("gc", lambda m, a: m.run(yes=a.yes, dry_run=a.dry_run, snapshots=a.snapshots,
                                    older_than=a.older_than)),
    "logs": ("logs", lambda m, a: m.run(a.target)),
    "trust": ("trust", lambda m, a: m.run(a.path, revoke=a.revoke, show=a.show,
                                          list_all=a.list_all, here=a.here)),
    "build": ("build", lambda m, a: m.run(a.path, no_cache=a.no_cache)),
    "images": ("images", lambda m, a: m.run(as_json=a.json)),
    "init": ("init", lambda m, a: m.run(a.path, template=a.template, force=a.force)),
    "config": ("show_config", lambda m, a: m.run(a.path, as_json=a.json)),
    "tools": ("tools", lambda m, a: m.run(a.path, as_json=a.json)),
    "ssh": ("ssh", lambda m, a: m.run(a.target, list(a.command), here=a.here,
                                      grant_write=a.grant_write)),
    "wezterm": ("wezterm", lambda m, a: m.run(install=a.install)),
    "workspace": ("workspace", lambda m, a: m.run(a.action, {
        k: v for k, v in vars(a).items() if k not in ("verb", "action")})),
    "ssh-config": ("ssh_config", lambda m, a: m.run(install=a.install,
                                                    uninstall=a.uninstall)),
}


def _dispatch(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.verb == "exec" and args.path is None and args.host is None:
        parser.error("exec needs PATH|ENV or --host (devenv exec . -- CMD)")
    if args.verb == "help":
        parser.parse_args([args.topic, "--help"] if args.topic else ["--help"])
        return 0
    if args.verb not in _HANDLERS:
        parser.print_help()
        return 0
    import importlib

    module, call = _HANDLERS[args.verb]
    return call(importlib.import_module(f"devenv.commands.{module}"), args)


def _fast(argv: list[str]) -> int | None:
    """Attach/exec without argparse when the environment already runs: the exit code of an
    exec over SSH, or no return at all (exec-replaced); ``None`` when the fast path does
    not apply (the full path then validates and starts)."""
    if argv[0] == "exec" and len(argv) > 3 and argv[2] == "--" and not argv[1].startswith("-"):
        path, command, tty = argv[1], argv[3:], False
    elif argv[0] == "shell":
        if len(argv) <= 2 and not any(a.startswith("-") for a in argv[1:]):
            path, command = (argv[1] if len(argv) == 2 else "."), ["bash", "-l"]
        else:
            given = _path_and_command(argv[1:])  # devenv [PATH] -- CMD...
            if given is None:
                return None
            path, command = given
        tty = sys.stdin.isatty() and sys.stdout.isatty()
    else:
        return None
    from devenv.envs import reach

    # exec tries the environment's warm SSH master first: a live master is proof enough
    # that it runs (no port probe, which would make sshd fork for nothing).
    target = reach.find(path, probe=argv[0] != "exec")
    if target is None:
        return None
    reach.say_chosen(target, always=argv[0] != "exec")
    if argv[0] == "exec":
        return reach.run(target, command)  # None: the container is gone; the full path
    reach.attach(target, command, tty=tty)  # starts it again


def _path_and_command(words: list[str]) -> tuple[str, list[str]] | None:
    """``[PATH] -- CMD...`` (PATH "." when left out); ``None`` for any other form."""
    if words[:1] == ["--"]:
        path, command = ".", words[1:]
    elif len(words) > 1 and words[1] == "--" and not words[0].startswith("-"):
        path, command = words[0], words[2:]
    else:
        return None
    return (path, command) if command else None


def _plain(argv: list[str]) -> int | None:
    """The plain forms of the quick verbs without argparse (whose parser costs more than
    some of them): ``list``, ``up [PATH]`` and ``stop PATH|NAME...`` with no option and no
    word argparse could read as one. ``None``: argparse's turn."""
    verb, words = argv[0], argv[1:]
    if any(w.startswith("-") for w in words):
        return None
    if verb == "list" and not words:
        from devenv.envs import quicklist

        return quicklist.run()  # None: the full listing below
    if verb == "up" and len(words) <= 1:
        from devenv.commands import up

        return up.run(words[0] if words else ".")
    if verb == "stop" and words:
        if len(words) == 1:
            from devenv.envs import quickstop

            code = quickstop.run(words[0])  # None: the full path below
            if code is not None:
                return code
        from devenv.commands import stop

        return stop.run(words)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run devenv with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    args_list = _normalise(list(sys.argv[1:] if argv is None else argv))
    if args_list[0] == "--version":
        # What argparse's version action prints (it acts on the first argument before it
        # looks at any other), without building the parser.
        print(f"devenv {__version__}")
        return 0
    verb = args_list[0] if args_list and args_list[0] in VERBS else None
    try:
        if verb in PASSTHROUGH:
            code = _fast(args_list)
            if code is not None:
                return code
        else:
            code = _plain(args_list)
            if code is not None:
                return code
        from devenv.cli_args import build

        parser = build(VERBS)
        args = parser.parse_args(_before_dashes(args_list))
        if verb in ("exec", "ssh", "shell") and "--" in args_list:
            # Everything after the first "--" is the command, verbatim (argparse would also
            # eat a second "--" that belongs to the command).
            args.command = args_list[args_list.index("--") + 1:]
        return _dispatch(args, parser)
    except (DevenvError, RuntimeFailure) as e:
        print(f"devenv: error: {safe_text(e.message)}", file=sys.stderr)
        if e.hint:
            print(f"devenv: hint: {safe_text(e.hint)}", file=sys.stderr)
        return EXIT_PRE_CHILD if verb in PASSTHROUGH else exit_code_of(e)
    except KeyboardInterrupt:
        print("devenv: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SystemExit as e:  # argparse: --help, --version, usage errors
        return e.code if isinstance(e.code, int) else 0 if e.code is None else 2
    except Exception as e:  # noqa: BLE001 - the one place unexpected errors are reported
        known = _environmental(e)
        if known is not None:
            print(f"devenv: error: {safe_text(known.message)}", file=sys.stderr)
            print(f"devenv: hint: {safe_text(known.hint or '')}", file=sys.stderr)
            return EXIT_PRE_CHILD if verb in PASSTHROUGH else known.exit_code
        log = _crash_log(e)
        print(f"devenv: internal error: {type(e).__name__}: {e}", file=sys.stderr)
        print(f"devenv: hint: please report it; details are in {log}", file=sys.stderr)
        return EXIT_INTERNAL


# errno values that say "the machine's disk or permissions", not "a bug in devenv".
_DISK_ERRNOS = {"ENOSPC", "EDQUOT", "EROFS", "EIO", "EACCES", "EPERM", "EMFILE", "ENFILE"}


def _environmental(error: Exception) -> DevenvError | None:
    """A clear error for failures of the machine devenv runs on (a full disk, a read-only or
    unwritable state directory, a state database another process holds): no crash log, since
    writing one would fail the same way and there is no bug to report."""
    import errno

    from devenv import paths

    where = str(paths.state_dir())
    if type(error).__module__ == "sqlite3":
        text = str(error)
        return DevenvError(f"devenv's state in {where} cannot be used: {text}",
                           "free disk space there or make it writable, or point DEVENV_HOME "
                           "at a writable directory")
    if isinstance(error, OSError) and error.errno == errno.E2BIG:
        return DevenvError("the command line is too long for this system",
                           "pass long input on stdin or in a file instead")
    if isinstance(error, OSError) and errno.errorcode.get(error.errno or 0) in _DISK_ERRNOS:
        place = f"{error.filename}: " if error.filename else ""
        return DevenvError(f"{place}{error.strerror}",
                           "free disk space or fix the permissions there (devenv keeps its "
                           f"state in {where}; DEVENV_HOME moves it)")
    return None


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
    except (OSError, DevenvError):
        return "(the log could not be written)"


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
