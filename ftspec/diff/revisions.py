"""The two sides of `ftspec diff`: a spec file, or a spec as it was at a git revision (`REV:PATH`).

A revision is materialised into a temporary directory that mirrors the
repository's layout and holds the spec and every file it needs: the specs it
`extends`, its `base { spec = ... }`, the `config.json` of a local base model and
the data files it names. Relative paths then resolve, and content hashes read, as
they did at that revision. A data file the revision lacks becomes an empty
placeholder, so the settings still compare, and is reported as missing.
"""

from __future__ import annotations

import fnmatch
import posixpath
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..spec.ast import Block, Setting
from ..spec.loader import display_path, is_local_model
from ..spec.lower import lower
from ..spec.parser import parse


class RevisionError(Exception):
    """An argument that is neither a spec file nor a readable `REV:PATH`."""


@dataclass(frozen=True)
class Side:
    """One side of a diff: the spec file to load, its name as shown, and the root its data paths are shown from."""

    name: str
    path: Path
    root: Path
    revision: str | None = None
    mirror: Path | None = None  # the temporary directory standing for the repository at `revision`
    missing: frozenset[Path] = frozenset()  # placeholders for data files the revision does not hold

    def rename(self, text: str) -> str:
        """``text`` with the mirror's paths written as `REV:PATH`, as `git show` takes them."""
        if self.mirror is None:
            return text
        for prefix in dict.fromkeys((str(self.mirror), display_path(self.mirror))):
            text = text.replace(prefix + "/", f"{self.revision}:")
        return text

    def relative(self, path: Path) -> str:
        """``path`` relative to the repository root, with POSIX separators: the same on every machine."""
        return Path(posixpath.relpath(path.as_posix(), self.root.as_posix())).as_posix()


def _git(args: list[str], cwd: Path) -> bytes | None:
    """Git's standard output, or None when git fails (or is not installed)."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def repository_root(directory: Path) -> Path | None:
    """The top of the git work tree holding ``directory``, if any."""
    out = _git(["rev-parse", "--show-toplevel"], directory)
    return Path(out.decode().strip()).resolve() if out else None


@contextmanager
def open_side(argument: str) -> Iterator[Side]:
    """A spec file as given, or `REV:PATH` materialised for as long as the context lasts."""
    path = Path(argument)
    if path.is_file():
        # Both files' data paths are shown from one root, the repository's (as a revision's are), so they compare.
        yield Side(argument, path.resolve(), repository_root(Path.cwd()) or Path.cwd().resolve())
        return
    rev, colon, inner = argument.partition(":")
    if not colon or not rev or not inner or rev.startswith("-"):  # a leading `-` would reach git as an option
        reason = "is a directory" if path.is_dir() else "does not exist"
        raise RevisionError(f"`{argument}` {reason}; give a spec file or a git revision as REV:PATH")
    top = repository_root(Path.cwd())
    if top is None:
        raise RevisionError(f"`{argument}` is not a file, and the working directory is not in a git repository")
    commit = _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], top)
    if commit is None:
        raise RevisionError(f"`{rev}` is not a git revision (in `{argument}`)")
    if inner.startswith(("./", "../")):  # as with `git show`, these start from the working directory
        inner = (_git(["rev-parse", "--show-prefix"], Path.cwd()) or b"").decode().strip() + inner
    inner = posixpath.normpath(inner)
    if inner.startswith("../") or posixpath.isabs(inner):
        raise RevisionError(f"`{argument}`: the path is outside the git repository")
    commit_id = commit.decode().strip()
    listing = _git(["ls-tree", "-r", "-z", "--name-only", "--full-tree", commit_id], top) or b""
    tree = set(listing.decode().split("\0"))
    if inner not in tree:
        raise RevisionError(f"`{inner}` does not exist at revision `{rev}`")
    scratch = Path(tempfile.mkdtemp(prefix="ftspec-diff-")).resolve()
    try:
        mirror = scratch / "repo"  # one level down, so a path that climbs out of it stays in the scratch directory
        missing = _materialise(inner, _Revision(top, commit_id, tree, mirror))
        yield Side(f"{rev}:{inner}", mirror / inner, mirror, rev, mirror, frozenset(missing))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@dataclass(frozen=True)
class _Revision:
    top: Path
    commit: str
    tree: set[str]
    mirror: Path

    def copy(self, path: str) -> Path:
        """Write ``path`` as the revision holds it into the mirror."""
        target = self.mirror / path
        target.parent.mkdir(parents=True, exist_ok=True)
        # cat-file --filters gives the bytes a checkout would (line endings, LFS), never a diff driver's textconv.
        content = _git(["cat-file", "--filters", f"{self.commit}:{path}"], self.top)
        if content is None:
            raise RevisionError(f"git cannot read `{path}` at revision {self.commit[:12]}")
        target.write_bytes(content)
        return target


def _materialise(start: str, revision: _Revision) -> set[Path]:
    """Copy the spec at ``start`` and every file it needs; returns the placeholders of missing data files."""
    queue, seen, missing = [start], set(), set()
    while queue:
        spec = queue.pop(0)
        if spec in seen or spec not in revision.tree:
            continue  # a spec missing at the revision is reported by the loader, under the revision's name
        seen.add(spec)
        text = revision.copy(spec).read_text(encoding="utf-8", errors="replace")
        for kind, value in _references(text):
            if value.startswith(("/", "~", "hub:")):
                continue  # absolute and hub paths name the same thing at every revision
            path = posixpath.normpath(posixpath.join(posixpath.dirname(spec), value))
            if path.startswith("../"):
                continue  # outside the repository: the loader reports it as missing
            if kind == "spec":
                queue.append(path)
            elif kind == "model":
                if f"{path}/config.json" in revision.tree:
                    revision.copy(f"{path}/config.json")
            elif any(char in value for char in "*?["):
                # fnmatch's `*` also crosses `/`: a superset of what the loader's glob will pick from the mirror.
                for match in sorted(p for p in revision.tree if fnmatch.fnmatchcase(p, path)):
                    revision.copy(match)
            elif path in revision.tree:
                revision.copy(path)
            else:
                placeholder = revision.mirror / path
                placeholder.parent.mkdir(parents=True, exist_ok=True)
                placeholder.touch()
                missing.add(placeholder.resolve())
    return missing


def _references(text: str) -> list[tuple[str, str]]:
    """The files a spec names: (`spec`, path) for `extends` and `base.spec`, (`model`, dir), (`data`, path or glob)."""
    tree, _ = parse(text, "<revision>")
    if tree is None:
        return []  # the loader reports the syntax error
    document, _ = lower(tree, "<revision>", text)
    found: list[tuple[str, str]] = []
    for item in document.items:
        settings = [(None, item)] if isinstance(item, Setting) else [(item.name, s) for s in item.settings()]
        if isinstance(item, Block) and item.name not in ("base", "data"):
            continue
        for block, setting in settings:
            if setting.value.kind != "string":
                continue
            value = setting.value.value
            if (block, setting.key) in ((None, "extends"), ("base", "spec")):
                found.append(("spec", value))
            elif (block, setting.key) == ("base", "model") and is_local_model(value):
                found.append(("model", value))
            elif block == "data" and setting.key in ("train", "eval"):
                found.append(("data", value))
    return found
