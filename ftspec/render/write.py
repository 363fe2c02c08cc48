"""Write rendered files into an output directory atomically; every OS error becomes a diagnostic (FT309).

A failure (a file in the way, no permission, a full disk) leaves the previous output intact and no
staging directory behind, and is reported as a diagnostic naming the path, never as a traceback.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

from ..diagnostics import Diagnostic, Diagnostics, FtspecError, Span
from ..spec.specfiles import display_path

_REASONS = {
    errno.ENOSPC: ("there is no space left on its device", "free some space; the previous output is unchanged"),
    errno.EDQUOT: ("the disk quota is used up", "free some space; the previous output is unchanged"),
    errno.EACCES: ("permission is denied", "choose a directory you may write to"),
    errno.EPERM: ("the operation is not permitted", "choose a directory you may write to"),
    errno.EROFS: ("its file system is read-only", "choose a directory on a writable file system"),
    errno.ENOTDIR: ("a file stands where a directory is needed", "choose a path whose parents are directories"),
    errno.EEXIST: ("a file of that name is in the way", "remove that file, or choose another directory"),
    errno.ENOENT: ("its parent cannot hold new directories", "choose a directory on a normal file system"),
}


def output_error(path: Path, err: OSError, span: Span | None = None) -> Diagnostic:
    """FT309 for an OS error met while writing below ``path``."""
    reason, help = _REASONS.get(err.errno, (err.strerror or str(err), "choose another output directory"))
    where = f" (at `{display_path(Path(err.filename))}`)" if err.filename and str(err.filename) != str(path) else ""
    return Diagnostic("FT309", f"cannot write to `{display_path(Path(path))}`: {reason}{where}", span, help)


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def _check_directory(out_dir: Path) -> None:
    """A file where the output directory (or one of its parents) should be is an error before anything is made."""
    for candidate in (out_dir, *out_dir.parents):
        if candidate.exists():
            if not candidate.is_dir():
                code = errno.ENOTDIR if candidate != out_dir else errno.EEXIST
                raise OSError(code, "not a directory", str(candidate))
            return


def write_files(files: dict[str, str], out_dir: Path, span: Span | None = None) -> None:
    """Replace ``out_dir``'s files named in ``files``; raises FtspecError (FT309) when the OS refuses."""
    out_dir = Path(out_dir)
    try:
        _check_directory(out_dir)
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    except OSError as err:
        raise FtspecError(Diagnostics([output_error(out_dir, err, span)])) from None
    try:
        # mkdtemp makes 0700 directories; the output gets the modes any new directory would.
        staging.chmod(0o777 & ~_umask())
        for name, text in files.items():
            target = staging / name
            target.write_text(text, encoding="utf-8")
            if name.endswith(".sh"):
                target.chmod(0o755)
        if not out_dir.exists():
            staging.rename(out_dir)
            return
        for name in files:
            os.replace(staging / name, out_dir / name)
    except OSError as err:
        raise FtspecError(Diagnostics([output_error(out_dir, err, span)])) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
