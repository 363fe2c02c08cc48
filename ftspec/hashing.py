"""The one hash of a file's bytes: provenance (`ftspec run`'s skip decision) and `ftspec diff` both use it."""

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
