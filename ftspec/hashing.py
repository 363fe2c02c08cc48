"""The one hash of a file's bytes: provenance (`ftspec run`'s skip decision), `ftspec diff` and the planner's
token-count cache use it."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes, read in chunks, as hex."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def cached_hash(path: Path, known: dict, cache: dict) -> str:
    """``path``'s hash, reused from ``known`` (path -> [size, mtime_ns, hash]) while its size and modification
    time are unchanged; ``cache`` gets the entry either way."""
    stat = path.stat()
    stamp = [stat.st_size, stat.st_mtime_ns]
    entry = known.get(str(path))
    digest = entry[2] if isinstance(entry, list) and entry[:2] == stamp else file_hash(path)
    cache[str(path)] = [*stamp, digest]
    return digest
