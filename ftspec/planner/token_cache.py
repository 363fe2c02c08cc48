"""Token counts of earlier plans, kept on disk: `check`, `plan`, `compile` and the editor count the same inputs once.

Loading a Llama-3-sized tokenizer.json (128,256 tokens, 9–14 MB) with the `tokenizers` library takes several times
all the rest of a cold `ftspec check` (bench/startup.py), and the count it serves changes only when its inputs do.
An entry's key is a hash of everything the count is made from: the tokenizer.json's bytes, each training file's
bytes, the plan's data section (format, columns, template, `max_length`, which rows are read), the training files'
row count (the extrapolation's), and the counting itself (the source of ftspec's modules that count, the
`tokenizers` library's files as installed). So an entry is never stale: any change is another key, and the count is made
again. A file's hash is reused while its size and modification time are unchanged, as `ftspec run` reuses them;
a hit then costs one small JSON read and a `stat` per file.

The file is `token-counts.json` in ftspec's user cache folder (ftspec.usercache), holding the newest KEEP counts.
A cache that cannot be read or written costs the count's time, never its result.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tempfile
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from ..hashing import cached_hash
from ..usercache import cache_folder
from .plan import Plan

FILE = "token-counts.json"
KEEP = 256
FORMAT = 1  # of the file; another format is read as empty
PACKAGE = Path(__file__).resolve().parents[1]
COUNTING = ("planner/tokens.py", "datacheck/check.py", "datacheck/quality.py", "datacheck/rows.py")


def _read(path: Path | None) -> dict:
    empty = {"format": FORMAT, "files": {}, "counts": {}}
    if path is None:
        return empty
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return empty
    if not isinstance(stored, dict) or stored.get("format") != FORMAT:
        return empty
    if not isinstance(stored.get("files"), dict) or not isinstance(stored.get("counts"), dict):
        return empty
    return stored


def _write(path: Path, stored: dict) -> None:
    """Atomically, so a concurrent reader sees the old file or the new one; a failure leaves the old one."""
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".token-counts-")
    except OSError:
        return
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(stored, file)
        os.replace(temporary, path)
    except OSError:
        Path(temporary).unlink(missing_ok=True)


def _library() -> str:
    """The `tokenizers` library as installed: its folder and each of its files' size and time, so another version
    or build is another key. Found without importing it or reading its metadata (importlib.metadata would search
    every installed distribution and parse one with the email package: a share of a cold check)."""
    spec = importlib.util.find_spec("tokenizers")
    if spec is None or not spec.submodule_search_locations:
        return "tokenizers absent"
    folder = spec.submodule_search_locations[0]
    try:
        files = sorted((entry.name, entry.stat()) for entry in os.scandir(folder) if entry.is_file())
    except OSError:
        return f"tokenizers {folder} unreadable"
    return " ".join(["tokenizers", folder, *(f"{name}:{info.st_size}:{info.st_mtime_ns}" for name, info in files)])


@lru_cache(maxsize=1)
def _counting() -> tuple[str, ...]:
    """The counting's own identity, once per process (the editor's server checks after every edit)."""
    return (_library(), *(hashlib.sha256((PACKAGE / name).read_bytes()).hexdigest() for name in COUNTING))


def count_key(plan: Plan, tokenizer: Path, known: dict, hashes: dict) -> str:
    """The hash of everything a count of ``plan``'s training rows with ``tokenizer`` is made from."""
    digest = hashlib.sha256()
    parts = [
        *_counting(),
        cached_hash(tokenizer, known, hashes),
        *(cached_hash(path, known, hashes) for path in plan.data.train),
        plan.data.model_dump_json(),
        str(plan.inputs.data_rows),
    ]
    for part in parts:
        digest.update(part.encode("utf-8") + b"\0")
    return digest.hexdigest()


def cached_count(plan: Plan, tokenizer: Path, count: Callable[[], dict | None]) -> dict | None:
    """What ``count()`` returns for these inputs (plain JSON data): kept from an earlier call, or counted now and
    kept for the next."""
    folder = cache_folder()
    path = folder / FILE if folder is not None else None
    stored, hashes = _read(path), {}
    try:
        key = count_key(plan, tokenizer, stored["files"], hashes)
    except OSError:  # a file vanished while planning: count (and fail) as without a cache
        return count()
    if key in stored["counts"]:
        return stored["counts"][key]
    value = count()
    if path is not None:
        counts = {**stored["counts"], key: value}
        stored["counts"] = dict(list(counts.items())[-KEEP:])
        files = {path: entry for path, entry in stored["files"].items() if path not in hashes} | hashes  # newest last
        stored["files"] = dict(list(files.items())[-4 * KEEP :])
        _write(path, stored)
    return value
