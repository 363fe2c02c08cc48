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


# This process's hashes, by path: [size, mtime_ns, hash]. Provenance and the token-count cache each keep their own
# record on disk; within one command a changed file is still read once.
_SEEN: dict[str, list] = {}


def cached_hash(path: Path, known: dict, cache: dict) -> str:
    """``path``'s hash, reused from ``known`` (path -> [size, mtime_ns, hash]), or from this process's earlier
    reads, while its size and modification time are unchanged; ``cache`` gets the entry either way."""
    stat = path.stat()
    stamp = [stat.st_size, stat.st_mtime_ns]
    for entry in (known.get(str(path)), _SEEN.get(str(path))):
        if isinstance(entry, list) and entry[:2] == stamp:
            digest = entry[2]
            break
    else:
        digest = file_hash(path)
    _SEEN[str(path)] = cache[str(path)] = [*stamp, digest]
    return digest
