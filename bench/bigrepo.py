"""A big, reproducible git repository for the workspace-sync benchmarks (docs/benchmarks.md):
by default 20,000 commits, about 2,000 files at the tip and a pack of more than 100 MiB, all
written by one ``git fast-import`` stream generated here from a seeded PRNG with fixed
authors, committers and dates, so that two builds with the same parameters have the same
HEAD.

    python bench/bigrepo.py [PATH] [--commits N]   # build (or reuse), print its figures

A build is kept: a stamp in PATH/.git records its parameters, refs and figures, and make()
with the same parameters reuses it after putting it back as it was built (refs, index and
working tree), so a benchmark may add commits (add_commit) and modify files (modify_files)
and the next make() still hands out the repository that was built.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import math
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

# Part of the parameters in the stamp: change it whenever the stream changes for the same
# parameters, so that repositories built by the former generator are built again.
GENERATOR = 1
MIB = 1 << 20
STAMP = "devenv-bigrepo.json"  # in .git: neither a tracked nor an untracked file
MAIN = "main"
BINARY_DIR = "assets"  # the incompressible files; everything else is text
BINARY_SLOTS = 16  # binary files at the tip (each is replaced whole, as images are)
BINARY_AVERAGE = 512 * 1024
# With the default text history (about 25 MiB packed), a pack of about 110 MiB: above the
# 100 MB the workspace-sync benchmark asks for, with room for another seed's variation.
BINARY_MIB = 85
EPOCH = 1_600_000_000  # the first commit's date; each next one half an hour later
STEP = 1800
AUTHORS = [("Ada Lovelace", "ada@example.invalid"), ("Grace Hopper", "grace@example.invalid"),
           ("Alan Turing", "alan@example.invalid"), ("Edsger Dijkstra", "ewd@example.invalid"),
           ("Barbara Liskov", "liskov@example.invalid"), ("Ken Thompson", "ken@example.invalid")]
WORDS = """alpha beta gamma delta value count index buffer cache state config token parse
render socket stream reader writer handle client server request response queue worker
thread lock timer event signal channel packet header payload length offset limit size
width height depth level layer frame block chunk page record entry field column table
schema model view route path file name label title text message error warning result
status code flag mode option setting profile user group owner session target source
output input report metric sample average median total ratio delta_t retry backoff
timeout deadline ready done start stop open close read write flush sync load store fetch
push pull merge split join filter map reduce sort search match scan build check verify
update create delete remove insert append extend clear reset apply commit revert"""
VOCAB = WORDS.split()
EXTENSIONS = {"src": (".py", ".c", ".h"), "lib": (".c", ".h", ".rs"), "tests": (".py",),
              "docs": (".md", ".rst"), "tools": (".sh", ".py"), "web": (".js", ".ts", ".css")}
ROOT_FILES = ["README.md", "Makefile", ".gitignore", "pyproject.toml", "LICENSE"]
# The operations git is run with here: the user's and the system's configuration must not
# change what is built (hooks, signing, fsmonitor, autocrlf).
GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_TERMINAL_PROMPT": "0"}
REPO_CONFIG = {"user.name": AUTHORS[0][0], "user.email": AUTHORS[0][1],
               "core.autocrlf": "false", "commit.gpgSign": "false",
               # No background gc or maintenance in the middle of a timed sync.
               "gc.auto": "0", "maintenance.auto": "false"}


class BigRepoError(Exception):
    """The repository could not be built or used (the message says why)."""


@dataclass(frozen=True)
class Params:
    commits: int
    files: int
    binary_mib: float
    seed: int
    generator: int = GENERATOR

    def as_json(self) -> dict[str, Any]:
        return {"commits": self.commits, "files": self.files, "binary_mib": self.binary_mib,
                "seed": self.seed, "generator": self.generator}


# -- running git -----------------------------------------------------------------------------


def git_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, **GIT_ENV, **(extra or {})}


def git(repo: Path, *args: str, env: dict[str, str] | None = None, stdin: str = "",
        timeout: float = 600) -> str:
    proc = subprocess.run(["git", "-C", str(repo), *args], env=env or git_env(), input=stdin,
                          capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        words = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise BigRepoError(f"git {' '.join(args[:3])} in {repo} exited {proc.returncode}: "
                           f"{words[-1] if words else ''}")
    return proc.stdout


def refs(repo: Path) -> dict[str, str]:
    """Every ref: name -> the object it points to."""
    out = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    return {name: sha for name, sha in (line.split(" ") for line in out.splitlines())}


def size_pack_kib(repo: Path) -> int:
    """size-pack of ``git count-objects -v``, in KiB (what -H prints as MiB / GiB)."""
    for line in git(repo, "count-objects", "-v").splitlines():
        key, _, value = line.partition(": ")
        if key == "size-pack":
            return int(value)
    raise BigRepoError("git count-objects -v printed no size-pack")


def text_files(repo: Path) -> list[str]:
    """The tracked text files (everything outside BINARY_DIR), in git's order."""
    out = git(repo, "ls-files", "-z")
    return [p for p in out.split("\0") if p and not p.startswith(f"{BINARY_DIR}/")]


# -- the generated history -------------------------------------------------------------------


@dataclass
class Branch:
    name: str
    files: dict[str, list[str]]  # text files: path -> lines (lists are replaced, not edited)
    fork: int = 0  # the commit it starts from (a fast-import mark), for its first commit
    marks: list[int] = field(default_factory=list)  # its commits, in order
    changed: dict[str, None] = field(default_factory=dict)  # paths changed since the fork


@dataclass
class Tag:
    name: str
    mark: int
    message: str  # "": lightweight


def data(payload: bytes) -> bytes:
    return b"data %d\n%s\n" % (len(payload), payload)


def content(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def spread(count: int, start: int, end: int) -> dict[int, int]:
    """``count`` events spread evenly over the indexes start..end-1: index -> how many."""
    out: dict[int, int] = {}
    span = max(1, end - start)
    for j in range(count):
        at = start + (j * span) // max(1, count)
        out[at] = out.get(at, 0) + 1
    return out


class Generator:
    """The fast-import stream of one repository: a main line with a big first import, files
    added, edited, renamed and deleted over time, incompressible files replaced now and
    then, a release branch, a feature branch merged back, an unmerged one, and tags.

    The history is planned first, then written: every blob first, each file's versions one
    after another, then the commits, which name the blobs by mark. fast-import deltifies a
    blob against the blob stored just before it, so this order gives each version a delta
    against its predecessor, as a repacked repository has; in commit order nearly every
    text version would be stored whole (the pack twice as big, and slower to write)."""

    def __init__(self, p: Params, out: IO[bytes]) -> None:
        self.p = p
        self.out = out
        self.rng = random.Random(p.seed)
        self.marks = 0  # commits: marks 1..commits
        self.blob_mark = p.commits  # blobs: the marks after them
        self.commits: list[bytes] = []  # the commit commands, in order
        self.lineage: dict[str, int] = {}  # path -> its file's history (a rename keeps it)
        self.versions: list[list[tuple[int, list[str]]]] = []  # history -> (mark, lines)
        self.binaries: list[tuple[int, int]] = []  # (mark, size)
        self.counter = 0  # makes every new file name unique
        self.tags: list[Tag] = []
        self.main = Branch(MAIN, {})
        self.branches: dict[str, Branch] = {}
        self.dirs = self.make_dirs(max(len(EXTENSIONS), p.files // 12))

    # -- content -------------------------------------------------------------------------

    def make_dirs(self, count: int) -> list[str]:
        dirs = list(EXTENSIONS)
        while len(dirs) < count:
            parent = self.rng.choice(dirs)
            if parent.count("/") < 4:
                dirs.append(f"{parent}/{self.rng.choice(VOCAB)}{len(dirs)}")
        return dirs

    def line(self) -> str:
        rng = self.rng
        if rng.random() < 0.08:
            return ""
        indent = "    " * rng.randrange(4)
        words = rng.choices(VOCAB, k=rng.randint(2, 7))
        n = rng.randrange(1000)
        kind = rng.randrange(4)
        if kind == 0:
            return f"{indent}{words[0]} = {'_'.join(words[1:])}({n})"
        if kind == 1:
            return f"{indent}# {' '.join(words)} {n}"
        if kind == 2:
            return f"{indent}if {words[0]} > {n}: {words[-1]}()"
        return f"{indent}{'.'.join(words)}"

    def new_file(self) -> tuple[str, list[str]]:
        directory = self.rng.choice(self.dirs)
        ext = self.rng.choice(EXTENSIONS[directory.split("/", 1)[0]])
        self.counter += 1
        name = f"{directory}/{self.rng.choice(VOCAB)}_{self.counter}{ext}"
        length = min(800, max(8, int(self.rng.lognormvariate(4.2, 0.7))))
        return name, [self.line() for _ in range(length)]

    def edit(self, lines: list[str]) -> list[str]:
        """A small edit (what makes deltas): a few lines replaced, inserted or deleted."""
        rng = self.rng
        new = list(lines)
        at = rng.randrange(len(new) + 1)
        r = rng.random()
        if r < 0.55 and at < len(new):
            for i in range(at, min(len(new), at + rng.randint(1, 3))):
                new[i] = self.line()
        elif r < 0.85 or len(new) < 10:
            new[at:at] = [self.line() for _ in range(rng.randint(1, 6))]
        else:
            del new[at:at + rng.randint(1, 3)]
        return new

    def pick(self, b: Branch) -> str:
        paths = list(b.files)
        if self.rng.random() < 0.4:  # some files are edited far more often than others
            return paths[self.rng.randrange(min(len(paths), 60))]
        return self.rng.choice(paths)

    def message(self) -> bytes:
        words = self.rng.choices(VOCAB, k=self.rng.randint(3, 9))
        verb = self.rng.choice(("Fix", "Add", "Update", "Refactor", "Remove", "Speed up"))
        body = "" if self.rng.random() < 0.6 else \
            "\n" + " ".join(self.rng.choices(VOCAB, k=self.rng.randint(10, 40))) + "\n"
        return f"{verb} {' '.join(words)}\n{body}".encode()

    # -- the stream ----------------------------------------------------------------------

    def commit(self, b: Branch, message: bytes, ops: list[bytes], merge: int = 0) -> int:
        self.marks += 1
        name, email = self.rng.choice(AUTHORS)
        ident = f"{name} <{email}> {EPOCH + self.marks * STEP} +0000".encode()
        head = [b"commit refs/heads/%s\nmark :%d\n" % (b.name.encode(), self.marks),
                b"author %s\ncommitter %s\n" % (ident, ident), data(message)]
        if not b.marks and b.fork:
            # Only a branch's first commit names its parent: fast-import goes on from the
            # branch's tip with the tree it has in memory, the bases of its tree deltas.
            head.append(b"from :%d\n" % b.fork)
        if merge:
            head.append(b"merge :%d\n" % merge)
        self.commits.append(b"".join(head + ops) + b"\n")
        b.marks.append(self.marks)
        return self.marks

    def put(self, b: Branch, path: str, lines: list[str]) -> bytes:
        b.files[path] = lines
        b.changed[path] = None
        if path not in self.lineage:
            self.lineage[path] = len(self.versions)
            self.versions.append([])
        self.blob_mark += 1
        self.versions[self.lineage[path]].append((self.blob_mark, lines))
        return b"M 100644 :%d %s\n" % (self.blob_mark, path.encode())

    def edits(self, b: Branch, count: int) -> list[bytes]:
        ops = []
        for _ in range(count):
            path = self.pick(b)
            ops.append(self.put(b, path, self.edit(b.files[path])))
        return ops

    def binary(self, average: int) -> bytes:
        slot = self.rng.randrange(BINARY_SLOTS)
        self.blob_mark += 1
        self.binaries.append((self.blob_mark, max(1, int(average * (0.5 + self.rng.random())))))
        return b"M 100644 :%d %s/blobs/blob_%02d.bin\n" % (self.blob_mark, BINARY_DIR.encode(),
                                                          slot)

    def tag(self, name: str, mark: int, message: str = "") -> None:
        self.tags.append(Tag(name, mark, message))

    def write_tags(self) -> None:
        for t in self.tags:
            if t.message:  # annotated: a tag object, a minute after its commit
                ident = f"{AUTHORS[0][0]} <{AUTHORS[0][1]}> {EPOCH + t.mark * STEP + 60} +0000"
                self.out.write(b"tag %s\nfrom :%d\ntagger %s\n%s" % (
                    t.name.encode(), t.mark, ident.encode(), data(t.message.encode())))
            else:
                self.out.write(b"reset refs/tags/%s\nfrom :%d\n\n" % (t.name.encode(), t.mark))

    def generate(self) -> None:
        """The whole stream, ``done`` included."""
        p = self.p
        sides = {"release/1.x": max(2, p.commits // 400),
                 "feature/search": max(2, p.commits // 1000),
                 "feature/wip": max(1, p.commits // 2000)}
        m = p.commits - sum(sides.values())  # commits on main, the merge included
        if m < 40:
            raise BigRepoError(f"at least 50 commits are needed, not {p.commits}")
        merge_at = m - max(2, m // 100)
        forks = {"release/1.x": m // 2, "feature/search": m - max(6, m // 20),
                 "feature/wip": m - max(3, m // 50)}
        ends = {"release/1.x": m, "feature/search": merge_at, "feature/wip": m}
        # main index -> how many commits each side branch gets right after that commit
        due = {name: spread(n, forks[name] + 1, ends[name]) for name, n in sides.items()}
        deletes = {i for i in range(1, m) if i % 97 == 0}
        renames = {i for i in range(1, m) if i % 151 == 0}
        initial = max(len(ROOT_FILES) + 1, p.files // 2)
        adds = spread(max(0, p.files - initial + len(deletes)), 1, m)
        n_binary = max(1, math.ceil(p.binary_mib * MIB / BINARY_AVERAGE))
        binary_average = max(1, int(p.binary_mib * MIB) // n_binary)
        binaries = spread(n_binary, 0, m)
        main = self.main
        for i in range(m):
            merge = 0
            if i == 0:
                ops = [self.put(main, path, [self.line() for _ in range(40)])
                       for path in ROOT_FILES]
                ops += [self.put(main, *self.new_file()) for _ in range(initial - len(ops))]
                message = b"Initial import\n"
            elif i == merge_at:  # what the feature changed, as the feature has it
                feature = self.branches["feature/search"]
                ops = [self.put(main, path, feature.files[path]) for path in feature.changed]
                merge = feature.marks[-1]
                message = b"Merge branch 'feature/search'\n"
            else:
                ops = self.changes(i in deletes, i in renames, adds.get(i, 0))
                message = self.message()
            ops += [self.binary(binary_average) for _ in range(binaries.get(i, 0))]
            mark = self.commit(main, message, ops, merge)
            if i == m // 4:
                self.tag("v0.1", mark)
            if i == forks["release/1.x"]:
                self.tag("v1.0", mark, "Release 1.0\n")
            if i == merge_at:
                self.tag("v2.0-rc1", mark, "Release candidate 1 of 2.0\n")
            for name in sides:
                if i == forks[name]:
                    self.branches[name] = Branch(name, dict(main.files), fork=mark)
                for _ in range(due[name].get(i, 0)):
                    self.side_commit(self.branches[name])
        release = self.branches["release/1.x"].marks
        self.tag("v1.0.1", release[len(release) // 2])
        self.tag("v1.1", release[-1], "Release 1.1\n")
        self.write()

    def write(self) -> None:
        """The planned history as fast-import commands: blobs, commits, tags, ``done``."""
        out = self.out
        for history in self.versions:
            for mark, lines in history:
                out.write(b"blob\nmark :%d\n%s" % (mark, data(content(lines))))
        self.versions.clear()
        for k, (mark, size) in enumerate(self.binaries):
            # Each from a PRNG of its own: made here, when written, and never kept.
            data_k = random.Random(f"{self.p.seed}/binary/{k}").randbytes(size)
            out.write(b"blob\nmark :%d\n%s" % (mark, data(data_k)))
        for command in self.commits:
            out.write(command)
        self.write_tags()
        out.write(b"done\n")

    def changes(self, delete: bool, rename: bool, adds: int) -> list[bytes]:
        """A main-line commit's changes: a file deleted or renamed now and then, new files
        as due, and small edits of one to four files."""
        main = self.main
        ops = []
        if delete:
            victim = self.rng.choice(list(main.files)[len(ROOT_FILES):])
            del main.files[victim]
            ops.append(b"D %s\n" % victim.encode())
        if rename:
            old = self.rng.choice(list(main.files)[len(ROOT_FILES):])
            new = f"{self.rng.choice(self.dirs)}/{old.rsplit('/', 1)[-1]}"
            if new not in main.files:
                main.files[new] = main.files.pop(old)
                self.lineage[new] = self.lineage[old]
                ops.append(b"R %s %s\n" % (old.encode(), new.encode()))
        ops += [self.put(main, *self.new_file()) for _ in range(adds)]
        return ops + self.edits(main, self.rng.choice((1, 1, 1, 2, 2, 3, 4)))

    def side_commit(self, b: Branch) -> None:
        ops = self.edits(b, self.rng.choice((1, 2, 3)))
        if self.rng.random() < 0.2:
            ops.append(self.put(b, *self.new_file()))
        self.commit(b, self.message(), ops)


# -- building, reusing and changing the repository -------------------------------------------


def cache_dir() -> Path:
    """Where the bench keeps what it builds once: $XDG_CACHE_HOME/devenv-bench (XDG: a
    relative value does not count), never inside the repository."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "devenv-bench"


def default_path(params: Params) -> Path:
    return cache_dir() / (f"bigrepo-c{params.commits}-f{params.files}-"
                          f"b{params.binary_mib:g}-s{params.seed}")


def read_stamp(path: Path) -> dict[str, Any] | None:
    """The stamp of a repository built here; None when there is none, {} when it is
    unreadable (the directory is still one of ours)."""
    stamp = path / ".git" / STAMP
    if not stamp.is_file():
        return None
    try:
        found = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def make(path: Path, *, commits: int = 20000, files: int = 2000, binary_mib: float = BINARY_MIB,
         seed: int = 1) -> Path:
    """The repository at ``path``: built if it is not there yet, or was built with other
    parameters; otherwise reused, put back as it was built (refs, HEAD on main, index and
    working tree, untracked files removed). ``binary_mib`` is how much incompressible data
    the history holds in all (the rest of the pack is the text's history)."""
    params = Params(commits, files, binary_mib, seed)
    path = Path(path).absolute()
    with locked(path):
        stamp = read_stamp(path)
        if stamp and stamp.get("params") == params.as_json():
            restore(path, stamp)
            return path
        if stamp is None and path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise BigRepoError(f"{path} exists and was not built by bench/bigrepo.py; "
                               "not replacing it")
        build(path, params)
    return path


def cached(*, commits: int = 20000, files: int = 2000, binary_mib: float = BINARY_MIB,
           seed: int = 1) -> Path:
    """make() at the default place in the bench's cache directory."""
    return make(default_path(Params(commits, files, binary_mib, seed)), commits=commits,
                files=files, binary_mib=binary_mib, seed=seed)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """One make() of a path at a time (two bench runs sharing the cache): the second waits,
    then reuses what the first built."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def cpu_seconds() -> float:
    """CPU time of this process and of its children that ended (git's share of a build)."""
    me, children = (resource.getrusage(who) for who in
                    (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def build(path: Path, params: Params) -> dict[str, Any]:
    """Build into a directory beside ``path`` and move it there when it is complete, so an
    interrupted build leaves no repository that looks finished."""
    start, cpu = time.perf_counter(), cpu_seconds()
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.building-", dir=path.parent))
    try:
        git(tmp, "init", "-q", "--template=", "-b", MAIN)
        for key, value in REPO_CONFIG.items():
            git(tmp, "config", key, value)
        fast_import(tmp, params)
        imported = time.perf_counter()
        git(tmp, "reset", "-q", "--hard")  # the checkout of main's tip
        done, cpu_used = time.perf_counter(), cpu_seconds() - cpu
        stamp = {
            "params": params.as_json(), "head": git(tmp, "rev-parse", "HEAD").strip(),
            "refs": refs(tmp),
            "commits": int(git(tmp, "rev-list", "--all", "--count").strip()),
            "files_at_tip": len(git(tmp, "ls-files", "-z").split("\0")) - 1,
            "size_pack_kib": size_pack_kib(tmp),
            "fast_import_s": round(imported - start, 3),
            "checkout_s": round(done - imported, 3),
            "build_s": round(done - start, 3),
            "build_cpu_s": round(cpu_used, 3),
            "load_average": os.getloadavg()[0],
        }
        (tmp / ".git" / STAMP).write_text(json.dumps(stamp, indent=2) + "\n")
        if path.exists():
            shutil.rmtree(path)
        tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return stamp


def fast_import(repo: Path, params: Params) -> None:
    """One ``git fast-import`` fed by the generator: Python writes while git packs, on two
    cores at once."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(["git", "-C", str(repo), "fast-import", "--quiet", "--done"],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err,
                                env=git_env(), bufsize=1 << 20)
        assert proc.stdin is not None
        try:
            Generator(params, proc.stdin).generate()
            proc.stdin.close()
        except BrokenPipeError:
            pass  # fast-import stopped early: its own words follow
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        if proc.wait() != 0:
            err.seek(0)
            said = err.read().decode(errors="replace").strip().splitlines()
            raise BigRepoError(f"git fast-import exited {proc.returncode}: "
                               f"{said[-1] if said else ''}")


def restore(path: Path, stamp: dict[str, Any]) -> None:
    """Put a reused repository back as it was built: refs, HEAD on main, index and working
    tree, no untracked files."""
    want: dict[str, str] = stamp["refs"]
    have = refs(path)
    lines = [f"update {name} {sha}" for name, sha in want.items() if have.get(name) != sha]
    lines += [f"delete {name}" for name in have if name not in want]
    if lines:
        git(path, "update-ref", "--stdin", stdin="\n".join(lines) + "\n")
    git(path, "symbolic-ref", "HEAD", f"refs/heads/{MAIN}")
    git(path, "reset", "-q", "--hard")
    git(path, "clean", "-q", "-f", "-d", "-x")


def add_commit(path: Path, n: int = 1) -> str:
    """``n`` small commits on the current branch, each inserting one line into one text
    file, made by ``git commit`` as a developer's are (loose objects, index updated); other
    changes in the working tree are left alone. Deterministic for a given HEAD. Returns the
    new HEAD."""
    path = Path(path)
    tracked = text_files(path)
    head = git(path, "rev-parse", "HEAD").strip()
    when = int(git(path, "log", "-1", "--format=%ct").strip())
    rng = random.Random(head)
    name, email = AUTHORS[1]
    for _ in range(n):
        rel = rng.choice(tracked)
        when += 60
        lines = (path / rel).read_bytes().split(b"\n")
        lines.insert(rng.randrange(len(lines)), b"# change %d" % when)
        (path / rel).write_bytes(b"\n".join(lines))
        env = git_env({"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
                       "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email,
                       "GIT_AUTHOR_DATE": f"{when} +0000",
                       "GIT_COMMITTER_DATE": f"{when} +0000", "GIT_LITERAL_PATHSPECS": "1"})
        git(path, "commit", "-q", "--no-verify", "-m", f"Change {rel}", "--", rel, env=env)
    return git(path, "rev-parse", "HEAD").strip()


MODIFIED = b"# modified by the bench"  # no generated line reads so: the file differs from HEAD


def modify_files(path: Path, count: int) -> list[str]:
    """Modify ``count`` distinct tracked text files in the working tree (one line inserted
    in each), without staging or committing. Deterministic for a given HEAD and count.
    Returns their paths."""
    path = Path(path)
    tracked = text_files(path)
    if not 0 <= count <= len(tracked):
        raise BigRepoError(f"cannot modify {count} files: {len(tracked)} text files tracked")
    head = git(path, "rev-parse", "HEAD").strip()
    rng = random.Random(f"{head} {count}")
    chosen = rng.sample(tracked, count)
    for rel in chosen:
        lines = (path / rel).read_bytes().split(b"\n")
        lines.insert(rng.randrange(len(lines)), MODIFIED)
        (path / rel).write_bytes(b"\n".join(lines))
    return chosen


# -- the command line ------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/bigrepo.py", description=(__doc__ or "").split("\n\n", maxsplit=1)[0])
    parser.add_argument("path", nargs="?", type=Path,
                        help=f"where (default: under {cache_dir()})")
    parser.add_argument("--commits", type=int, default=20000)
    parser.add_argument("--files", type=int, default=2000, help="files at the tip, about")
    parser.add_argument("--binary-mib", type=float, default=BINARY_MIB,
                        help="incompressible data in the whole history, MiB")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    params = Params(args.commits, args.files, args.binary_mib, args.seed)
    path = args.path or default_path(params)
    start = time.perf_counter()
    try:
        before = read_stamp(Path(path).absolute())
        repo = make(path, commits=args.commits, files=args.files, binary_mib=args.binary_mib,
                    seed=args.seed)
    except BigRepoError as e:
        print(f"bench/bigrepo.py: {e}", file=sys.stderr)
        return 1
    took = time.perf_counter() - start
    stamp = read_stamp(repo) or {}
    reused = before == stamp
    print(f"path:         {repo}")
    print(f"head:         {stamp.get('head')}")
    print(f"commits:      {stamp.get('commits')}")
    print(f"size-pack:    {stamp.get('size_pack_kib', 0) / 1024:.1f} MiB")
    print(f"files at tip: {stamp.get('files_at_tip')}")
    print(f"build:        {stamp.get('build_s')} s (fast-import {stamp.get('fast_import_s')} s, "
          f"checkout {stamp.get('checkout_s')} s; CPU {stamp.get('build_cpu_s')} s, load "
          f"average {stamp.get('load_average', 0):.1f})")
    if reused:
        print(f"reused:       {took:.2f} s (built before, put back as built)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
