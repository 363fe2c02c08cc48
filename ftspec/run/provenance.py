"""What a run was made from: versions, data and tokenizer hashes, the git commit, and the content hash
that decides whether a finished run is still up to date.

`run.json` in the run directory holds it. Nothing here imports the training stack: versions come
from package metadata.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from ..planner.plan import Plan, plan_dict

STACK = ("torch", "transformers", "peft", "accelerate", "datasets", "tokenizers", "bitsandbytes", "safetensors")
RUN_FILE = "run.json"


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


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


def tokenizer_hash(plan: Plan) -> str | None:
    """sha256 of the tokenizer.json the run reads (the base's, or a named directory's) when it is on disk;
    a learned tokenizer is part of the run."""
    if plan.tokenizer.source == "named":
        directory = plan.tokenizer.path
    else:
        directory = plan.base.path or plan.inputs.base_dir
    if directory is None:
        return None
    path = Path(directory) / "tokenizer.json"
    return file_hash(path) if path.is_file() else None


def provenance(plan: Plan, spec_files: dict, dependency_hash: str | None) -> dict:
    """Everything that determines this run's result, and its content hash."""
    data = {
        str(path.relative_to(plan.inputs.project_root))
        if path.is_relative_to(plan.inputs.project_root)
        else str(path): file_hash(path)
        for path in (*plan.data.train, *plan.data.eval)
    }
    determined = {
        "plan": plan_dict(plan, plan.output.dir),
        "data": data,
        "base": {
            "model": plan.base.model,
            "revision": plan.base.revision,
            "spec_run": dependency_hash,
            "tokenizer": tokenizer_hash(plan),
        },
        "versions": versions(),
    }
    content = hashlib.sha256(json.dumps(determined, sort_keys=True).encode()).hexdigest()
    return {
        "name": plan.name,
        "spec": sorted(spec_files),
        "content_hash": content,
        "git_commit": git_commit(plan.inputs.project_root),
        **determined,
    }


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
    if base["tokenizer"]:
        lines.append(f"- base tokenizer.json sha256 `{base['tokenizer']}`")
    lines.append("- versions: " + ", ".join(f"{name} {version}" for name, version in record["versions"].items()))
    return "\n".join(lines) + "\n"
