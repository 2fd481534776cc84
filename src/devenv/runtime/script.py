"""POSIX shell scripts the runtimes run on a target, and the marker protocol around them.

Remote command strings are built here (docs/architecture.md, owners): every value is quoted with
:func:`devenv.runtime.wire.quote`, ``~`` becomes a quoted ``"$HOME"``, env names are validated.
Nothing here starts a process.

Every remote exec runs :func:`wrap`: the target's shell announces itself on stderr with a
start marker holding its process-group id before the command runs, and an end marker with
the command's exit code after it. So ssh's exit 255 means "transport failure" only when the
start marker never arrived, a command's own ``exit 255`` is just a result, and a connection
that dies mid-command is told apart from a command that ended (no end marker).
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from devenv.runtime import wire
from devenv.runtime.errors import InvalidArgument

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# Non-interactive defaults: nothing may wait for a human (pagers, editors, credential
# prompts); set unless a PTY is asked for. The caller's env wins.
NON_INTERACTIVE_ENV = {
    "TERM": "dumb",
    "PAGER": "cat",
    "GIT_PAGER": "cat",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_EDITOR": "true",
    "GIT_SEQUENCE_EDITOR": "true",
    "EDITOR": "true",
    "VISUAL": "true",
    "CI": "true",
}



def quote_path(path: str) -> str:
    """``path`` as one shell word; a leading ``~`` or ``~/`` becomes ``"$HOME"``."""
    if "\x00" in path:
        raise InvalidArgument(f"path {path!r} holds a NUL byte")
    if not path:
        raise InvalidArgument("empty path", "give a file or directory path")
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        rest = path[2:]
        return '"$HOME"/' + wire.quote(rest) if rest else '"$HOME"/'
    return wire.quote(path)


def check_env(env: Mapping[str, str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in (env or {}).items():
        if not ENV_NAME.match(name):
            raise InvalidArgument(f"invalid environment variable name {name!r}",
                                  "use letters, digits and '_', not starting with a digit")
        if "\x00" in value:
            raise InvalidArgument(f"environment variable {name} holds a NUL byte")
        out[name] = value
    return out


def effective_env(env: Mapping[str, str] | None, *, pty: bool) -> dict[str, str]:
    """The variables a command gets on top of the target's own: the non-interactive
    defaults (unless ``pty``), then the caller's."""
    user = check_env(env)
    base = {} if pty else dict(NON_INTERACTIVE_ENV)
    return {**base, **user}


class Script(str):
    """devenv's own shell code (the file and background scripts here): run in a subshell of
    the wrapper, saving the ``sh -c`` a caller's command string needs."""

    __slots__ = ()


def command_argv(command: str | Sequence[str], *, login: bool, bash: bool = True
                 ) -> list[str]:
    """The argv that runs ``command``: a string is shell code (``sh -c``), a sequence is an
    argv, as it is. ``login`` runs it in a login shell (bash where the target has it) so
    profile-set tools (nvm, pyenv) resolve."""
    shell = "bash" if bash else "sh"
    if isinstance(command, str):
        if not command.strip():
            raise InvalidArgument("empty command")
        if "\x00" in command:
            raise InvalidArgument("the command holds a NUL byte")
        return [shell, "-lc", command] if login else ["sh", "-c", command]
    argv = list(command)
    if not argv:
        raise InvalidArgument("empty command")
    if any("\x00" in a for a in argv):
        raise InvalidArgument("a command argument holds a NUL byte")
    return [shell, "-lc", 'exec "$@"', shell, *argv] if login else argv


def command_words(command: str | Sequence[str], *, login: bool, bash: bool = True) -> str:
    """:func:`command_argv` as shell words; devenv's own :class:`Script` runs in a subshell."""
    if isinstance(command, Script):
        return f"( {command}\n)"
    return wire.join(command_argv(command, login=login, bash=bash))


def exports(env: Mapping[str, str]) -> str:
    return "".join(f"export {k}={wire.quote(v)}; " for k, v in env.items())


@dataclass(frozen=True)
class Wrapped:
    """A wrapped command: what to hand the target's login shell, and the marker nonce."""

    command: str
    nonce: bytes


def new_nonce() -> bytes:
    return secrets.token_hex(6).encode()


def wrap(command: str | Sequence[str], *, cwd: str | None, env: Mapping[str, str],
         timeout: float | None, login: bool, tools: Tools, posix_login: bool = False,
         preamble: str = "") -> Wrapped:
    """The command line a remote login shell runs for one exec (see the module docstring).

    The login shell (which may not be POSIX) gets one ``exec /bin/sh -c SCRIPT`` line, so
    the script runs as the session leader sshd made: its pid is the process group of
    everything the command starts, which the start marker reports. With ``timeout`` and a
    target that has ``timeout``, the session leader is ``timeout -s KILL t+1`` instead (a
    backstop one second past the local deadline: it kills the whole session), and the script,
    its child, reports its parent's pid. A ``cwd`` that cannot be entered gives the ``C``
    marker instead of ``S``; the command runs as the script's child, and the ``E`` marker
    carries its exit code.
    """
    nonce = new_nonce()
    words = command_words(command, login=login, bash=tools.bash)
    # devenv's own scripts end by themselves when the connection goes (EOF, EPIPE): no
    # backstop, which costs two execs on the target.
    backstop = timeout is not None and tools.timeout and not isinstance(command, Script)
    body = wire.script(words, nonce=nonce.decode(),
                       cd=quote_path(cwd) if cwd is not None else None,
                       exports=preamble + exports(env),
                       leader='"$PPID"' if backstop else '"$$"')
    if posix_login and not backstop:  # the login shell runs it itself: one exec less
        return Wrapped(body, nonce)
    prefix = f"exec timeout -s KILL {math.ceil(timeout or 0) + 1} " if backstop else "exec "
    return Wrapped(f"{prefix}/bin/sh -c {wire.quote(body)}", nonce)


# --- probing a target ---------------------------------------------------------------------


@dataclass(frozen=True)
class Tools:
    """What a target's userland offers (GNU, BSD, busybox differ); probed once."""

    home: str = ""
    timeout: bool = False
    setsid: bool = False
    bash: bool = False
    stat: str = "gnu"  # gnu | bsd | none
    dd_fsync: bool = False
    find_printf: bool = False
    system: str = ""
    umask: int = 0o022  # the session's
    chmod_ref: bool = False  # chmod --reference (GNU)
    perl: bool = False
    machine: str = ""  # uname -m: the kernel's
    long_bit: str = ""  # getconf LONG_BIT: the userland's (a 32-bit one on a 64-bit kernel)
    node: str = ""  # uname -n: whose temp files are whose (pid namespaces differ)

    @property
    def fsync_syscall(self) -> int | None:
        """The fsync system call's number, where devenv knows it (Linux, 64-bit userland on
        common CPUs)."""
        if self.system != "Linux" or self.long_bit != "64":
            return None
        return {"x86_64": 74, "aarch64": 82, "riscv64": 82}.get(self.machine)


PROBE = (
    'printf "home=%s\\n" "$HOME"; '
    "command -v timeout >/dev/null 2>&1 && echo timeout=1; "
    "command -v setsid >/dev/null 2>&1 && echo setsid=1; "
    "command -v bash >/dev/null 2>&1 && echo bash=1; "
    "if stat -c %s / >/dev/null 2>&1; then echo stat=gnu; "
    "elif stat -f %z / >/dev/null 2>&1; then echo stat=bsd; else echo stat=none; fi; "
    "find / -maxdepth 0 -printf '' >/dev/null 2>&1 && echo find_printf=1; "
    't=$(mktemp 2>/dev/null) && { echo x | dd of="$t" conv=fsync >/dev/null 2>&1 '
    "&& echo dd_fsync=1; chmod --reference=\"$t\" \"$t\" 2>/dev/null && echo chmod_ref=1; "
    "rm -f \"$t\"; }; "
    'printf "system=%s\\n" "$(uname -s 2>/dev/null)"; '
    'printf "umask=%s\\n" "$(umask)"; '
    'command -v perl >/dev/null 2>&1 && echo perl=1; '
    'printf "machine=%s\\n" "$(uname -m 2>/dev/null)"; '
    'printf "long_bit=%s\\n" "$(getconf LONG_BIT 2>/dev/null)"; '
    'printf "node=%s\\n" "$(uname -n 2>/dev/null)"'
)


def parse_probe(text: str) -> Tools:
    values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    return Tools(home=values.get("home", ""), timeout="timeout" in values,
                 setsid="setsid" in values, bash="bash" in values,
                 stat=values.get("stat", "none"), dd_fsync="dd_fsync" in values,
                 find_printf="find_printf" in values, system=values.get("system", ""),
                 umask=_octal(values.get("umask", ""), 0o022),
                 chmod_ref="chmod_ref" in values, perl="perl" in values,
                 machine=values.get("machine", ""), long_bit=values.get("long_bit", ""),
                 node=values.get("node", ""))


def node_tag(node: str) -> str:
    """A machine's (or container's) name as it appears in temp file names: writers only
    ever clean up temp files of their own machine, whose pids they can check."""
    return "".join(c for c in node if c.isascii() and c.isalnum())[:24] or "x"


def _octal(text: str, default: int) -> int:
    try:
        return int(text, 8) & 0o777
    except ValueError:
        return default


# --- file operations ----------------------------------------------------------------------

# Exit codes of the file scripts (the wrapper's own marker tells them from transport errors).
NOT_FOUND, IS_DIR, NOT_DIR, SHORT_WRITE, NOT_EMPTY, NO_PARENT = 3, 4, 5, 6, 7, 8
FILE_ERRORS = {NOT_FOUND: "no such file or directory", IS_DIR: "is a directory",
               NOT_DIR: "is not a directory", SHORT_WRITE: "the write was cut short",
               NOT_EMPTY: "is a directory (pass recursive=True to remove it)",
               NO_PARENT: "the parent directory does not exist"}


def read_file(path: str) -> str:
    p = quote_path(path)
    return (f"p={p}; if [ -d \"$p\" ]; then exit {IS_DIR}; fi; "
            f"[ -e \"$p\" ] || exit {NOT_FOUND}; exec cat -- \"$p\"")


def write_file(path: str, size: int | None, tools: Tools, *, parents: bool) -> str:
    """Atomic write of stdin to ``path``: a temp file in the same directory named after this
    shell's pid, fsync, the old file's mode (new files: 0666 & ~umask), then ``mv``. Writes
    go through symlinks. With ``size``, a short stdin (the writer died) renames nothing.
    Temp files of writers that died (their pid is gone) are removed first; ``ps -p`` asks
    again when ``kill -0`` says no, since it also says no (EPERM) for another user's live
    writer (a target without ``ps -p`` treats those as dead).

    Every process counts on small files (a fork and exec costs ~1 ms on the target), so
    paths are split with parameter expansion and the session's umask comes from the probe:
    besides ``dd``/``cat`` and ``mv``, only ``stat`` (existing files), ``wc`` (the size
    check) and ``chmod`` run."""
    p = quote_path(path)
    nonce = secrets.token_hex(4)
    tag = node_tag(tools.node)
    if tools.perl and tools.fsync_syscall is not None:
        return _perl_write(p, size, nonce, tools, parents=parents)
    fail = 'rm -f -- "$tmp"; exit'
    if tools.dd_fsync:  # dd's own report gives the size: no wc
        sink = f'r=$(dd of="$tmp" bs=65536 conv=notrunc,fsync 2>&1) || {{ {fail} 1; }}; '
        count = ('n=${r##*records out}; n=${n#?}; n=${n%% bytes*}; '
                 'case $n in ""|*[!0-9]*) n=$(wc -c < "$tmp") ;; esac; ')
        sync = ""
    else:
        sink = f'cat >> "$tmp" || {{ {fail} 1; }}; '
        count = 'n=$(wc -c < "$tmp"); '
        sync = "sync; "
    check = (f'{count}[ "$n" -eq {size} ] || {{ {fail} {SHORT_WRITE}; }}; '
             if size is not None else "")
    # An old file's mode is copied onto the (empty, 0600) temp file in the background while
    # the data streams in: chmod --reference, else stat + chmod. A new file is made with the
    # session's umask, which gives it its mode directly.
    if tools.chmod_ref:
        keep = 'chmod --reference="$p" "$tmp"'
    elif tools.stat in ("gnu", "bsd"):
        flag = "-c %a" if tools.stat == "gnu" else "-f %Lp"
        keep = f'm=$(stat {flag} -- "$p") && chmod "$m" "$tmp"'
    else:
        keep = ":"
    mkdir = '[ -d "$d" ] || mkdir -p -- "$d" || exit 1; ' if parents else ""
    return (
        f"p={p}; n=0; "
        'while [ -L "$p" ] && [ $n -lt 40 ]; do l=$(readlink -- "$p") || break; '
        'case $l in /*) p=$l ;; *) case $p in */*) p=${p%/*}/$l ;; *) p=$l ;; esac ;; esac; '
        'n=$((n+1)); done; '
        f'if [ -d "$p" ]; then exit {IS_DIR}; fi; '
        'case $p in */*) d=${p%/*}; b=${p##*/} ;; *) d=.; b=$p ;; esac; [ -n "$d" ] || d=/; '
        f"{mkdir}"
        f'[ -d "$d" ] || exit {NO_PARENT}; '
        f'for f in "$d/.$b".devenv-tmp-{tag}-*; do [ -e "$f" ] || continue; '
        f'w=${{f##*.devenv-tmp-{tag}-}}; w=${{w%%-*}}; '
        'case $w in *[!0-9]*|"") continue ;; esac; '
        'kill -0 "$w" 2>/dev/null || ps -p "$w" >/dev/null 2>&1 || rm -f -- "$f"; done; '
        f'tmp="$d/.$b.devenv-tmp-{tag}-$$-{nonce}"; c=; '
        f'if [ -e "$p" ]; then umask 077; : > "$tmp" || exit 1; {{ {keep}; }} & c=$!; '
        f'else umask {tools.umask:03o}; : > "$tmp" || exit 1; fi; '
        f"{sink}"
        f'[ -z "$c" ] || wait "$c" || {{ {fail} 1; }}; '
        f"{check}{sync}"
        f'mv -f -- "$tmp" "$p" || {{ {fail} 1; }}'
    )


# The steps of the shell version in one process, where perl is there and devenv knows the
# fsync system call (Linux): a small write then costs a perl start (~2 ms) instead of dd,
# chmod and mv (~5 ms). No modules (IO::Handle alone costs 8 ms): numeric open flags and
# errno values are Linux's (the caller checks the system).
_PERL_WRITE = r"""
my ($p, $size, $parents, $umask, $nonce, $fsync, $tag) = @ARGV;
for (1 .. 40) { last unless -l $p; my $l = readlink $p; last unless defined $l;
  $p = $l =~ m{^/} ? $l : ($p =~ m{^(.*)/} ? "$1/$l" : $l); }
exit 4 if -d $p;
my ($d, $b) = $p =~ m{^(.*)/([^/]*)$} ? (($1 eq "" ? "/" : $1), $2) : (".", $p);
if (!-d $d && $parents) { my $at = $d =~ m{^/} ? "" : ".";
  for my $part (split m{/}, $d) { next if $part eq ""; $at .= "/$part"; mkdir $at; } }
exit 8 unless -d $d;
if (opendir(my $dh, $d)) { my $pre = ".$b.devenv-tmp-$tag-";
  for my $f (readdir $dh) { next unless index($f, $pre) == 0;
    my ($w) = substr($f, length $pre) =~ /^(\d+)-/ or next;
    next if kill(0, $w) || $! == 1;  # EPERM: alive, another user's
    unlink "$d/$f"; } }
my @st = stat $p;
my $mode = @st ? ($st[2] & 07777) : (0666 & ~(0 + $umask));
my $tmp = "$d/.$b.devenv-tmp-$tag-$$-$nonce";
sysopen(my $fh, $tmp, 1 | 64 | 128, 0600) or do { print STDERR "$tmp: $!\n"; exit 1 };
binmode STDIN; my ($n, $buf) = (0);
while (1) { my $r = sysread(STDIN, $buf, 262144);
  if (!defined $r) { unlink $tmp; exit 1 } last if $r == 0;
  my $o = 0; while ($o < $r) { my $w = syswrite($fh, $buf, $r - $o, $o);
    if (!defined $w) { print STDERR "$tmp: $!\n"; unlink $tmp; exit 1 } $o += $w; }
  $n += $r; }
if ($size ne "" && $n != $size) { unlink $tmp; exit 6 }
if (syscall(0 + $fsync, fileno($fh)) != 0 || !close($fh) || !chmod($mode, $tmp)
    || !rename($tmp, $p)) { print STDERR "$p: $!\n"; unlink $tmp; exit 1 }
"""


def _perl_write(p: str, size: int | None, nonce: str, tools: Tools, *, parents: bool) -> str:
    return (f"exec perl -e {wire.quote(_PERL_WRITE)} -- {p} "
            f"{wire.quote('' if size is None else str(size))} {1 if parents else 0} "
            f"{tools.umask} {nonce} {tools.fsync_syscall} {node_tag(tools.node)}")


def stat(path: str, tools: Tools, *, follow: bool = True) -> str:
    p = quote_path(path)
    flag = "-L " if follow else ""
    exists = f'[ -e {p} ] || [ -L {p} ] || exit {NOT_FOUND}; '
    if tools.stat == "bsd":
        return f"{exists}exec stat {flag}-f '%z %m %p' -- {p}"
    return f"{exists}exec stat {flag}-c '%s %Y %f' -- {p}"


def ensure_dir(path: str) -> str:
    p = quote_path(path)
    return (f'p={p}; [ -d "$p" ] && exit 0; [ -e "$p" ] && exit {NOT_DIR}; '
            'exec mkdir -p -- "$p"')


def list_dir(path: str, tools: Tools) -> str:
    """NUL-separated ``kind size name`` records (size ``-`` where the target cannot tell
    cheaply); kinds f d l o."""
    p = quote_path(path)
    head = f'p={p}; [ -e "$p" ] || exit {NOT_FOUND}; [ -d "$p" ] || exit {NOT_DIR}; '
    if tools.find_printf:
        return head + "exec find \"$p\"/ -mindepth 1 -maxdepth 1 -printf '%y %s %f\\0'"
    return head + (
        'cd -- "$p" || exit 1; for f in * .[!.]* ..?*; do '
        '[ -e "$f" ] || [ -L "$f" ] || continue; '
        'if [ -L "$f" ]; then t=l; elif [ -d "$f" ]; then t=d; elif [ -f "$f" ]; then t=f; '
        "else t=o; fi; printf '%s - %s\\000' \"$t\" \"$f\"; done")


def remove(path: str, *, recursive: bool, missing_ok: bool) -> str:
    p = quote_path(path)
    missing = "exit 0" if missing_ok else f"exit {NOT_FOUND}"
    if recursive:
        return f'p={p}; [ -e "$p" ] || [ -L "$p" ] || {missing}; exec rm -rf -- "$p"'
    return (f'p={p}; [ -e "$p" ] || [ -L "$p" ] || {missing}; '
            f'if [ -d "$p" ] && [ ! -L "$p" ]; then exit {NOT_EMPTY}; fi; exec rm -f -- "$p"')


def resolve_path(path: str, base: str | None) -> str:
    """Prints the absolute form of ``path``: ``~`` is the target's home, a relative path is
    taken from ``base`` (default: the home directory)."""
    b = quote_path(base) if base else '"$HOME"'
    if path == "~" or path.startswith("~/"):
        return f"printf '%s\\n' {quote_path(path)}"
    if path.startswith("/"):
        return f"printf '%s\\n' {wire.quote(path)}"
    return f"printf '%s/%s\\n' {b} {wire.quote(path)}"
