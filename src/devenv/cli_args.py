"""The argument parser of the ``devenv`` command line (built only when a verb needs it)."""

from __future__ import annotations

import argparse
from typing import Any

from devenv import __version__

EPILOG = """\
exit codes: 0 ok, 1 failed, 2 usage, 3 internal error, 4 conflict (name or port),
5 not found, 6 Docker unavailable, 7 bad config, 124 exec --timeout expired, 125 exec/attach
failed before the command ran, 130 interrupted, 255 exec's connection died while the command
ran; exec and the shell pass the command's own exit code through.
environment: DEVENV_HOME (all of devenv's files), DEVENV_SSH_PORT, DEVENV_PORT_RANGE=LOW-HIGH,
DEVENV_SSH_CONFIG (an ssh config for --host and HOST: instead of ~/.ssh/config),
DEVENV_DEBUG=1 (log every command devenv runs)."""


def build(verb_names: tuple[str, ...]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="devenv",
        description="Isolated, long-lived, SSH-reachable development environments per project.",
        usage="devenv [PATH] [--here] [--port N] [--name NAME]\n       devenv VERB ...",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"devenv {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", title="verbs", prog="devenv")

    def start_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("path", nargs="?", default=".", metavar="PATH",
                       help="a directory of the project (default: .): the project is the "
                            "nearest directory up from it that devenv knows or that has "
                            ".devenv/, else the top of its git work tree, else PATH itself")
        here_option(p)
        p.add_argument("--port", type=int, metavar="N",
                       help="host SSH port (default: $DEVENV_SSH_PORT, else ssh_port from "
                            "the project config, else the remembered or a new one)")
        p.add_argument("--name", metavar="NAME",
                       help="environment name (default: <parent>-<basename> of PATH)")
        grant_option(p)

    shell = verbs.add_parser(
        "shell", help="start if needed and attach a shell (the default verb: devenv [PATH])",
        usage="devenv [PATH] [--here] [--port N] [--name NAME] [--workspace NAME] "
              "[--session NAME] [-- CMD...]",
        description="Start the project's environment if it is not running, then attach an "
                    "interactive shell (or CMD) in the project directory. Every session is "
                    "equal; leaving it never stops the environment. With --session, the shell "
                    "or CMD runs in a persistent tmux session that survives a closed terminal "
                    "or a dropped connection; the same --session attaches to it again.")
    start_options(shell)
    shell.add_argument("--session", metavar="NAME",
                       help="attach to (or create) the persistent tmux session NAME")
    shell.add_argument("--workspace", metavar="NAME",
                       help="in the workspace NAME (devenv workspace), made in the "
                            "environment on first use")
    # The command is everything after "--" (cli.main takes it verbatim); a positional
    # remainder here would also swallow options written after PATH.
    shell.set_defaults(command=[])

    up = verbs.add_parser("up", help="start if needed; print name, SSH port and ssh command",
                          description="Start the project's environment if it is not running "
                                      "and print how to reach it.")
    start_options(up)
    up.add_argument("--json", action="store_true", help="print JSON for scripts")
    up.add_argument("--recreate", action="store_true",
                    help="replace a running environment's container, applying config "
                         "changes (the home and workspaces volumes are kept, the "
                         "workspaces snapshotted first; post_create runs again)")
    up.add_argument("--rebuild", action="store_true",
                    help="rebuild the tool and project layers without cache, then "
                         "--recreate (the default image is rebuilt only when it changes)")
    up.add_argument("--force", action="store_true",
                    help="recreate even though persistent sessions run (they end)")

    ex = verbs.add_parser(
        "exec", help="run a command in an environment (started if needed) or on an SSH host",
        usage="devenv exec [--here] [--name NAME] [--cwd DIR] [--timeout SECS] PATH|ENV -- "
              "CMD...\n"
              "       devenv exec --host [USER@]HOST[:PORT] [--cwd DIR] [--timeout SECS] "
              "-- CMD...",
        description="Run a non-interactive command in the project's environment (in the "
                    "project directory) or, with --host, on any SSH host (the system ssh: "
                    "your ~/.ssh/config, agent and ProxyJump apply). Output streams and the "
                    "command's exit code passes through. A warm SSH connection is used when "
                    "there is one (docker exec otherwise). 125: devenv failed before the "
                    "command ran; 124: --timeout expired (the remote process group is "
                    "killed); 255: the connection died while the command ran.")
    ex.add_argument("--name", metavar="NAME", help="environment name (as for up)")
    ex.add_argument("--host", metavar="[USER@]HOST[:PORT]",
                    help="run on this SSH host (or ssh config alias) instead")
    ex.add_argument("--cwd", metavar="DIR",
                    help="working directory (relative: to the directory PATH is in the "
                         "project, or to the home directory with --host)")
    ex.add_argument("--timeout", type=float, metavar="SECS",
                    help="kill the command (and what it started) after SECS; exit 124")
    here_option(ex)
    grant_option(ex)
    ex.add_argument("path", nargs="?", metavar="PATH|ENV",
                    help="project directory or environment name")
    # The command is everything after "--" (cli.main takes it verbatim); a positional
    # remainder here would swallow options written after PATH.
    ex.set_defaults(command=[])

    cp = verbs.add_parser(
        "cp", help="copy a file between here, environments and SSH hosts",
        usage="devenv cp SRC DEST",
        description="Copy one file. SRC and DEST are local paths, ENV:PATH (an environment; "
                    "a relative PATH is in its project directory) or [USER@]HOST:PATH (any "
                    "SSH host or ssh config alias; a relative PATH is in its home). The "
                    "destination is replaced atomically (readers see the old or the new "
                    "file, never a part) and keeps its mode; a DEST that is a directory "
                    "receives SRC's name. Write ./a:b for a local name holding ':'.")
    cp.add_argument("src", metavar="SRC")
    cp.add_argument("dest", metavar="DEST")

    _manage_verbs(verbs)
    _image_verbs(verbs)
    _connect_verbs(verbs)
    _workspace_verbs(verbs)
    hp = verbs.add_parser("help", help="show help for devenv or a verb")
    hp.add_argument("topic", nargs="?", choices=[v for v in verb_names if v != "help"],
                    metavar="VERB")
    return parser




def grant_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--grant-write", action="store_true",
                   help="devenv as root, project owned by root: give the container user "
                        "(UID 1000) write access with POSIX ACLs (remembered; undo: "
                        "devenv rm --revoke-write)")


def here_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--here", action="store_true",
                   help="PATH is the project, as it is (not the project PATH is in)")


def _manage_verbs(verbs: Any) -> None:
    ls = verbs.add_parser("list", help="list environments",
                          description="List this devenv's environments: name, project path, "
                                      "SSH port, status, started, image.")
    ls.add_argument("--json", action="store_true", help="print JSON for scripts")
    ls.add_argument("--all", action="store_true", dest="include_stopped",
                    help="also list stopped projects and containers in other states")

    st = verbs.add_parser("stop", help="stop environments",
                          usage="devenv stop PATH|NAME... | --all [--force] [--time SECONDS]",
                          description="Stop environments given by project path or name (in "
                                      "parallel). An environment with persistent sessions "
                                      "(devenv sessions) is not stopped, and neither is any "
                                      "other named, unless --force: stopping ends them. Every "
                                      "process in it gets SIGTERM and up to --time seconds to "
                                      "end, then the sessions are hung up; an idle environment "
                                      "stops at once.")
    st.add_argument("targets", nargs="*", metavar="PATH|NAME")
    st.add_argument("--all", action="store_true", dest="all_", help="stop every environment")
    st.add_argument("--force", action="store_true",
                    help="stop even though persistent sessions run (they end)")
    st.add_argument("--time", type=float, metavar="SECONDS", dest="grace",
                    help="how long processes get to end after SIGTERM before they are killed "
                         "(default: stop_time in the user config, else 10; at most 600)")

    rm = verbs.add_parser("rm", help="forget environments (state, keys; --volumes: volumes)",
                          usage="devenv rm PATH|NAME... [--volumes] [--force] "
                                "[--revoke-write]",
                          description="Stop and forget environments: devenv's state, keys and "
                                      "hook logs. The project's files are never touched (but "
                                      "a write grant's ACL entries are taken back); the "
                                      "home and workspaces volumes are removed only with "
                                      "--volumes. Running persistent sessions refuse it "
                                      "unless --force.")
    rm.add_argument("targets", nargs="+", metavar="PATH|NAME")
    rm.add_argument("--volumes", action="store_true",
                    help="also remove the home and workspaces volumes")
    rm.add_argument("--force", action="store_true",
                    help="remove even though persistent sessions run (they end)")
    rm.add_argument("--revoke-write", action="store_true",
                    help="remove the container user's ACL entries (a write grant) from the "
                         "project even when devenv has no record of one (a recorded grant "
                         "is always taken back)")

    lg = verbs.add_parser("logs", help="show the output of post_create/post_start hooks")
    lg.add_argument("target", nargs="?", default=".", metavar="PATH|NAME")

    tr = verbs.add_parser(
        "trust", help="trust the project's .devenv/init hook (as it is now) to run in "
                      "workspaces",
        usage="devenv trust [PATH] [--here] | --revoke [PATH] | --show [PATH] | --list",
        description="Trust the project for the current content of its .devenv/init: devenv "
                    "records the file's sha256 (or that there is none), and runs the hook "
                    "when it creates a workspace of the project (on this machine for a local "
                    "workspace) only while the file has exactly that content. An agent in "
                    "the environment can edit the file; once it changes, it does not run "
                    "until you review it and trust it again. A .devenv or .devenv/init that "
                    "is a symbolic link is refused, never followed.")
    tr.add_argument("path", nargs="?", metavar="PATH",
                    help="a directory of the project (default: .), resolved to its project "
                         "as for the other verbs")
    here_option(tr)
    trg = tr.add_mutually_exclusive_group()
    trg.add_argument("--revoke", action="store_true",
                     help="forget the trust: the hook no longer runs")
    trg.add_argument("--show", action="store_true",
                     help="say whether the hook is trusted as it is now (or changed since)")
    trg.add_argument("--list", action="store_true", dest="list_all",
                     help="every trusted project and whether its hook still matches")



def _image_verbs(verbs: Any) -> None:
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
                                      "project would start from, and home and workspaces "
                                      "volumes of environments devenv no longer knows; "
                                      "lists them first.")
    gc.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    gc.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    gc.add_argument("--snapshots", action="store_true",
                    help="instead: remove workspace snapshots (refs/devenv/snapshots/ in the "
                         "projects' repositories) older than --older-than DAYS")
    gc.add_argument("--older-than", type=float, metavar="DAYS",
                    help="with --snapshots: how old a snapshot must be to go")

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



def _connect_verbs(verbs: Any) -> None:
    sh = verbs.add_parser("ssh", help="ssh into the environment (starts it if needed)",
                          usage="devenv ssh [PATH|NAME] [--here] [-- CMD...]",
                          description="ssh into the environment through devenv's ssh_config "
                                      "(strict host-key checking), starting it if it is "
                                      "stopped; CMD runs in the project directory and its "
                                      "exit code passes through.")
    sh.add_argument("target", nargs="?", default=".", metavar="PATH|NAME")
    here_option(sh)
    grant_option(sh)
    sh.add_argument("command", nargs="...", metavar="CMD", help="a command, after --")

    sc = verbs.add_parser("ssh-config", help="print devenv's ssh_config, or (un)install its "
                                             "Include line in ~/.ssh/config")
    group = sc.add_mutually_exclusive_group()
    group.add_argument("--install", action="store_true",
                       help="add one Include line at the top of ~/.ssh/config (backup kept)")
    group.add_argument("--uninstall", action="store_true", help="remove exactly that line")
    group.add_argument("--print", action="store_true", dest="print_",
                       help="print devenv's ssh_config (the default)")

    ss = verbs.add_parser("sessions", help="list (or end) the persistent sessions of an "
                                           "environment",
                          description="List the persistent tmux sessions (devenv PATH "
                                      "--session NAME) of a running environment: attached or "
                                      "detached, the command running now and the one the "
                                      "session started with. Sessions end when the "
                                      "environment stops.")
    ss.add_argument("target", nargs="?", default=".", metavar="PATH|NAME")
    ss.add_argument("--json", action="store_true", help="print JSON for scripts")
    ss.add_argument("--kill", metavar="SESSION",
                    help="end the session SESSION (and what runs in it)")

    wz = verbs.add_parser("wezterm", help="WezTerm SSH domains for every environment (Lua)",
                          description="Print the Lua module of WezTerm ssh_domains devenv keeps "
                                      "current (one domain devenv:<name> per environment), or "
                                      "with --install the two lines that load it.")
    wzg = wz.add_mutually_exclusive_group()
    wzg.add_argument("--install", action="store_true",
                     help="print the two lines to add to wezterm.lua")
    wzg.add_argument("--print", action="store_true", dest="print_",
                     help="print the module (the default)")




def _workspace_verbs(verbs: Any) -> None:
    ws = verbs.add_parser(
        "workspace", help="per-agent checkouts of the project, and never losing their work",
        description="A workspace is a checkout of the project on its own branch (devenv/NAME) "
                    "on a target: the project's environment (default; /workspaces/NAME), "
                    "'local' (a git worktree on this machine) or an SSH host "
                    "([user@]host[:port] or an alias). Work comes home with diff and pull; "
                    "snapshot records everything (commits, staged, modified and untracked "
                    "files, stash) under refs/devenv/snapshots/NAME/ in the project's own "
                    "repository, and delete refuses while anything is saved nowhere else.")
    sub = ws.add_subparsers(dest="action", metavar="ACTION", title="actions",
                            prog="devenv workspace")

    def project(p: argparse.ArgumentParser) -> None:
        p.add_argument("-C", dest="path", default=".", metavar="PATH",
                       help="a directory of the project (default: .)")

    def target(p: argparse.ArgumentParser) -> None:
        p.add_argument("--on", metavar="TARGET",
                       help="env (default), local, or an SSH host ([user@]host[:port] or an "
                            "alias; DEVENV_SSH_CONFIG names another ssh config)")

    cr = sub.add_parser("create", help="make a workspace")
    cr.add_argument("name", metavar="NAME")
    cr.add_argument("path", nargs="?", default=".", metavar="PATH")
    target(cr)
    cr.add_argument("--from", dest="from_ref", default="HEAD", metavar="REF",
                    help="the commit to start from (default: the project's HEAD)")
    cr.add_argument("--branch", metavar="BRANCH", help="its branch (default: devenv/NAME)")
    cr.add_argument("--include-uncommitted", action="store_true",
                    help="also bring the project's uncommitted and untracked changes (they "
                         "are uncommitted in the workspace too)")

    ls = sub.add_parser("list", help="the project's workspaces and what is unsaved in each")
    ls.add_argument("path", nargs="?", default=".", metavar="PATH")
    ls.add_argument("--json", action="store_true", dest="json_",
                    help="print JSON for scripts")

    df = sub.add_parser("diff", help="commits and changes since the workspace started")
    df.add_argument("name", metavar="NAME")
    project(df)
    df.add_argument("--stat", action="store_true", help="a summary per file")

    pl = sub.add_parser("pull", help="fetch the workspace's branch into the project (same "
                                     "name; fast-forward only; your checkout is untouched)")
    pl.add_argument("name", metavar="NAME")
    project(pl)

    sn = sub.add_parser("snapshot", help="record the workspace's whole state in the project")
    sn.add_argument("name", metavar="NAME")
    project(sn)

    sl = sub.add_parser("snapshots", help="list snapshots (of NAME, or of every workspace)")
    sl.add_argument("name", nargs="?", metavar="NAME")
    project(sl)
    sl.add_argument("--json", action="store_true", dest="json_",
                    help="print JSON for scripts")

    rs = sub.add_parser("restore", help="bring a snapshot back (default: the newest)")
    rs.add_argument("name", metavar="NAME")
    rs.add_argument("snapshot", nargs="?", metavar="SNAPSHOT")
    project(rs)
    target(rs)
    rs.add_argument("--into", metavar="WORKSPACE",
                    help="restore into this workspace (made if missing; default: NAME)")
    rs.add_argument("--force", action="store_true",
                    help="replace a workspace that holds unsaved work (snapshotted first)")

    de = sub.add_parser("delete", help="delete a workspace (refused while work is unsaved)")
    de.add_argument("name", metavar="NAME")
    project(de)
    de.add_argument("--force", action="store_true",
                    help="delete although work is unsaved (it is snapshotted first)")

    sy = sub.add_parser("sync", help="bring the target's copy of the project up to date")
    sy.add_argument("path", nargs="?", default=".", metavar="PATH")
    target(sy)
