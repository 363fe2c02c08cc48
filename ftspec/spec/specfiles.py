"""Spec files on disk: how paths are shown and resolved, where a project starts, reading one spec's text,
and which files may be named as specs (`extends`, `base.spec`) and how deep such chains may go."""

from __future__ import annotations

import os
from pathlib import Path

from ..diagnostics import Diagnostics, Span
from .parser import MAX_SPEC_BYTES, TOO_LARGE_HELP, too_large

PROJECT_MARKERS = (".git", "pyproject.toml", "ftspec.toml")


def display_path(path: Path) -> str:
    """A path as diagnostics show it: relative to the working directory when below it."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def resolved(path: Path) -> Path:
    """``path`` made absolute with its symlinks resolved; only made absolute when they loop.

    `Path.resolve` raises RuntimeError on a symlink loop; the file is then reported as unreadable where it is used.
    """
    try:
        return path.resolve()
    except (RuntimeError, OSError):
        return Path(os.path.abspath(path))


def project_root(directory: Path) -> Path:
    """The nearest ancestor holding `.git`, `pyproject.toml` or `ftspec.toml`; else ``directory``."""
    for candidate in (directory, *directory.parents):
        if any((candidate / marker).exists() for marker in PROJECT_MARKERS):
            return candidate
    return directory


def read_spec(path: Path, diags: Diagnostics, span: Span | None = None, what: str = "spec") -> str | None:
    if span is not None and path.exists() and not path.is_file() and not path.is_dir():
        # A spec named by another (`extends`) must be a regular file: reading /dev/zero never ends,
        # a FIFO or /dev/stdin waits forever. A path the user types on the command line may be a pipe.
        diags.error("FT301", f"{what} path `{display_path(path)}` is not a regular file", span)
        return None
    try:
        size = path.stat().st_size if path.is_file() else 0
        if size > MAX_SPEC_BYTES:  # refused before it is read: it may be gigabytes
            diags.error("FT113", too_large(size), span, TOO_LARGE_HELP)
            return None
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        diags.error(
            "FT301",
            f"{what} file `{display_path(path)}` does not exist",
            span,
            "check the path; relative paths start from the directory of the spec that names them",
        )
    except IsADirectoryError:
        diags.error("FT301", f"{what} path `{display_path(path)}` is a directory, not a file", span)
    except UnicodeDecodeError as err:
        diags.error("FT301", f"{what} file `{display_path(path)}` is not UTF-8 text (byte {err.start})", span)
    except OSError as err:
        diags.error("FT301", f"cannot read {what} file `{display_path(path)}`: {err.strerror}", span)
    except ValueError:  # a NUL character in the path: no file system can name it
        diags.error("FT301", f"{what} path {str(path)!r} contains a NUL character", span)
    return None


# Specs may extend (or build on) each other this many levels deep (FT112): loading recurses once per level.
MAX_SPEC_CHAIN = 32


def spec_chain_ok(path: Path, stack: tuple[Path, ...], span: Span, key: str, diags: Diagnostics) -> bool:
    """A spec named by `extends` or `base.spec` must be a `.ft` file (so no diagnostic ever quotes a line of
    another kind of file), and chains of them stay within MAX_SPEC_CHAIN."""
    if path.suffix != ".ft":
        diags.error(
            "FT301",
            f"`{key}` names `{display_path(path)}`, which is not a spec (`.ft`) file",
            span,
            "name a `.ft` spec file",
        )
        return False
    if len(stack) >= MAX_SPEC_CHAIN:
        diags.error(
            "FT112",
            f"specs build on each other more than {MAX_SPEC_CHAIN} levels deep (`{key}` here)",
            span,
            "merge some of the specs: a variant usually extends one or two others",
        )
        return False
    return True
