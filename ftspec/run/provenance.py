"""What a run was made from: versions, data and tokenizer hashes, the git commit, and the content hash
that decides whether a finished run is still up to date.

`run.json` in the run directory holds it. Nothing here imports the training stack: versions come
from package metadata.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from .. import __version__
from ..hashing import file_hash
from ..planner.plan import Plan, plan_dict

# The training stack, the one list: `run` needs it installed, and records its versions.
STACK = ("torch", "transformers", "peft", "accelerate", "datasets", "tokenizers", "bitsandbytes", "safetensors")
RUN_FILE = "run.json"
TEMPLATES = Path(__file__).resolve().parents[1] / "render" / "templates"


def versions() -> dict[str, str]:
    """Python's and the training stack's versions, from package metadata."""
    found = {"python": platform.python_version()}
    for name in STACK:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def git_commit(directory: Path) -> str | None:
    """The commit checked out at ``directory`` (with `+dirty` when files differ from it), or None."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def base_directory(plan: Plan) -> Path | None:
    """The directory the base model loads from, when it is on disk (a local, package or spec-built base)."""
    if plan.base.source == "package":
        found = importlib.util.find_spec(plan.base.package[0])
        locations = found.submodule_search_locations if found is not None else None
        return Path(locations[0]) / plan.base.package[1] if locations else None
    directory = plan.base.path or plan.inputs.base_dir
    return Path(directory) if directory is not None else None


def tree_hashes(directory: Path | None, known: dict, cache: dict) -> dict[str, str]:
    """sha256 of every file below ``directory`` (hidden ones aside), by relative path. A file whose size
    and modification time are those ``known`` recorded is not read again; ``cache`` gets every entry."""
    if directory is None or not directory.is_dir():
        return {}
    found = {}
    for path in sorted(directory.rglob("*")):
        name = path.relative_to(directory)
        if not path.is_file() or any(part.startswith(".") for part in name.parts):
            continue
        found[name.as_posix()] = cached_hash(path, known, cache)
    return found


def cached_hash(path: Path, known: dict, cache: dict) -> str:
    stat = path.stat()
    stamp = [stat.st_size, stat.st_mtime_ns]
    entry = known.get(str(path))
    digest = entry[2] if isinstance(entry, list) and entry[:2] == stamp else file_hash(path)
    cache[str(path)] = [*stamp, digest]
    return digest


def ftspec_identity() -> dict[str, str]:
    """ftspec's version and a hash of its templates: another ftspec may write another train.py."""
    digest = hashlib.sha256()
    for template in sorted(TEMPLATES.glob("*.j2")):
        digest.update(template.name.encode() + b"\0" + template.read_bytes() + b"\0")
    return {"version": __version__, "templates": digest.hexdigest()}


def provenance(plan: Plan, spec_files: dict, dependency_hash: str | None, previous: dict | None = None) -> dict:
    """Everything that determines this run's result, and its content hash. File hashes recorded by the
    ``previous`` run are reused for files whose size and modification time are unchanged."""
    known = (previous or {}).get("file_cache") or {}
    cache: dict = {}
    root = plan.inputs.project_root
    data = {
        str(path.relative_to(root)) if path.is_relative_to(root) else str(path): cached_hash(path, known, cache)
        for path in (*plan.data.train, *plan.data.eval)
    }
    tokenizer = Path(plan.tokenizer.path) if plan.tokenizer.source == "named" and plan.tokenizer.path else None
    determined = {
        "plan": plan_dict(plan, plan.output.dir),
        "data": data,
        "base": {
            "model": plan.base.model,
            "revision": plan.base.revision,
            "spec_run": dependency_hash,
            "files": tree_hashes(base_directory(plan), known, cache),
            "tokenizer": tree_hashes(tokenizer, known, cache),
        },
        "ftspec": ftspec_identity(),
        "versions": versions(),
    }
    content = hashlib.sha256(json.dumps(determined, sort_keys=True).encode()).hexdigest()
    return {
        "name": plan.name,
        "spec": sorted(spec_files),
        "content_hash": content,
        "git_commit": git_commit(plan.inputs.project_root),
        **determined,
        "file_cache": cache,
    }


# What `changes` names for each part of the record that decides a run.
PARTS = {"plan": "plan", "data": "data", "base": "base model", "ftspec": "ftspec", "versions": "training stack"}


def changes(previous: dict | None, record: dict) -> list[str]:
    """What differs between the run recorded in ``previous`` and ``record``, in words."""
    if not previous:
        return ["run record"]
    found = []
    for part, words in PARTS.items():
        if previous.get(part) != record.get(part):
            if part == "data" and isinstance(previous.get("data"), dict):
                names = sorted(set(previous["data"].items()) ^ set(record["data"].items()))
                words += " (" + ", ".join(dict.fromkeys(f"`{name}`" for name, _ in names)) + ")"
            found.append(words)
    return found or ["inputs"]


def read_run(run_dir: Path) -> dict | None:
    """The run.json of a run directory, or None when there is none (or it is unreadable)."""
    try:
        return json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def provenance_markdown(record: dict) -> str:
    """The model card's provenance section."""
    lines = ["## Provenance", "", f"- content hash: `{record['content_hash']}`"]
    if record.get("git_commit"):
        lines.append(f"- git commit: `{record['git_commit']}`")
    lines.append("- spec files: " + ", ".join(f"`{name}`" for name in record["spec"]))
    lines += [f"- data `{path}`: sha256 `{digest}`" for path, digest in record["data"].items()]
    base = record["base"]
    if base["model"]:
        lines.append(f"- base `{base['model']}` at revision `{base['revision']}`")
    if base["spec_run"]:
        lines.append(f"- base built by a run with content hash `{base['spec_run']}`")
    for what, key in (("base", "files"), ("tokenizer", "tokenizer")):
        lines += [f"- {what} file `{name}`: sha256 `{digest}`" for name, digest in sorted(base.get(key, {}).items())]
    lines.append("- versions: " + ", ".join(f"{name} {version}" for name, version in record["versions"].items()))
    return "\n".join(lines) + "\n"
