"""ftspec's folder in the user's cache directory: what a later process may reuse instead of computing again.

Only what is checked on reading lives there (Lark's parse tables, which carry the grammar's hash; token counts,
keyed by the contents they were counted from), so a lost, stale or damaged file costs time, never a result.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_folder() -> Path | None:
    """$XDG_CACHE_HOME/ftspec, else ~/.cache/ftspec, made if needed; None when there is nowhere to write."""
    try:
        folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ftspec"
        folder.mkdir(parents=True, exist_ok=True)
    except (OSError, RuntimeError):  # no home directory, or a read-only one
        return None
    return folder
