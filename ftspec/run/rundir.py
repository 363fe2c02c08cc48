"""Whose a run directory is, and who is using it: `ftspec run` writes into a directory only when it is
new, empty or marked as ftspec's own, and only while it holds the directory's lock.

The marker (`.ftspec-run`) names the spec whose run lives there; the lock (`.ftspec-lock`, an `fcntl`
lock held for the whole run) names the process holding it. `/` and the home directory are never run
directories, whatever they hold.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from ..diagnostics import Diagnostic, Diagnostics, FtspecError, Span
from ..render.write import output_error
from ..spec.specfiles import display_path
from .provenance import RUN_FILE, read_run

MARKER = ".ftspec-run"
LOCK = ".ftspec-lock"


def owner(run_dir: Path) -> str | None:
    """The spec named by a run directory's marker (or, for a run from before markers, its run.json)."""
    try:
        return json.loads((run_dir / MARKER).read_text(encoding="utf-8")).get("spec")
    except (OSError, ValueError, AttributeError):
        pass
    record = read_run(run_dir)
    return record.get("name") if isinstance(record, dict) and record.get("content_hash") else None


def _forbidden(run_dir: Path) -> bool:
    home = Path.home().resolve()
    return run_dir == Path(run_dir.anchor) or run_dir == home or run_dir in home.parents


def claim(run_dir: Path, name: str, span: Span | None, force: bool = False) -> Diagnostics:
    """FT307/FT308/FT309 when ``run_dir`` may not hold this spec's run; else makes it, marked as ours."""
    found = Diagnostics()
    run_dir = run_dir.resolve()
    if _forbidden(run_dir):
        found.error(
            "FT308",
            f"`{display_path(run_dir)}` can never be a run directory",
            span,
            'give the run a directory of its own, such as `output { dir = "runs/NAME" }`',
        )
        return found
    if run_dir.is_dir():
        holder = owner(run_dir)
        contents = sorted(entry.name for entry in run_dir.iterdir())
        if holder is None and contents:
            shown = ", ".join(f"`{entry}`" for entry in contents[:4]) + (", …" if len(contents) > 4 else "")
            found.error(
                "FT307",
                f"`{display_path(run_dir)}` holds files ftspec did not write ({shown}): a run there would replace them",
                span,
                f"give this spec an empty or new `output {{ dir = ... }}` (ftspec marks its own with `{MARKER}`)",
            )
        elif holder is not None and holder != name and not force:
            found.error(
                "FT307",
                f"`{display_path(run_dir)}` holds the run of spec `{holder}`, not `{name}`",
                span,
                "give this spec its own `output { dir = ... }`, or pass --force to replace that run",
            )
        if found:
            return found
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / MARKER).write_text(json.dumps({"spec": name}) + "\n", encoding="utf-8")
    except OSError as err:
        found.items.append(output_error(run_dir, err, span))
    return found


class RunLock:
    """An exclusive `fcntl` lock on a run directory, with the holder's pid, host and start time."""

    def __init__(self, run_dir: Path, span: Span | None):
        self.path, self.span, self.file = Path(run_dir) / LOCK, span, None

    def __enter__(self) -> RunLock:
        try:
            self.file = self.path.open("a+", encoding="utf-8")
        except OSError as err:
            raise FtspecError([output_error(self.path.parent, err, self.span)]) from None
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.file.seek(0)
            holder = self.file.read().strip() or "a process that has not said who it is"
            self.file.close()
            raise FtspecError([self._held(holder)]) from None
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
        self.file.seek(0)
        self.file.truncate()
        self.file.write(f"pid {os.getpid()} on {socket.gethostname()}, since {started}\n")
        self.file.flush()
        return self

    def _held(self, holder: str) -> Diagnostic:
        return Diagnostic(
            "FT310",
            f"`{display_path(self.path.parent)}` is in use by another `ftspec run` ({holder})",
            self.span,
            "wait until that run ends, or stop it; two runs in one directory would overwrite each other",
        )

    def __exit__(self, *exc) -> None:
        fcntl.flock(self.file, fcntl.LOCK_UN)
        self.file.close()


__all__ = ["LOCK", "MARKER", "RUN_FILE", "RunLock", "claim", "owner"]
