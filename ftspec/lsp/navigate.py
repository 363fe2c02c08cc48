"""Go to definition: the files a spec names (`extends`, `base.spec`, data files, model directories).

Paths resolve as the loader resolves them: against the directory of the spec that wrote them. A data
glob opens every file it matches; a model directory opens its `config.json`.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from ..spec.loader import resolved
from .complete import PATHS
from .context import cursor_at, word_at


def targets(text: str, line: int, character: int, path: Path) -> list[Path]:
    """The files the string under a 0-based position names, when it is the value of a path setting."""
    word = word_at(text, line, character)
    if word is None or word.kind != "string" or len(word.text) < 2:
        return []
    at = cursor_at(text, line, word.start)
    if not at.in_value or (at.block, at.key or "") not in PATHS:
        return []
    value = word.text[1:-1]
    if value.startswith(("hub:", "package:")):
        return []
    candidate = resolved(path.parent / os.path.expanduser(value))
    if glob.has_magic(str(candidate)) and not candidate.exists():
        return sorted(Path(p) for p in glob.glob(str(candidate), recursive=True) if Path(p).is_file())[:50]
    if candidate.is_dir():
        config = candidate / "config.json"
        return [config] if config.is_file() else []
    return [candidate] if candidate.is_file() else []
