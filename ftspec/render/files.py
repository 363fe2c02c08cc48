"""Render a Plan into the files of `generated/<name>/` with Jinja2 templates.

Templates see only the resolved plan (paths already relative to the output
directory) and write values through the `py`/`assign` filters, which produce
Python literals; StrictUndefined turns a missing value into a compile error.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from functools import lru_cache
from pathlib import Path

import jinja2

from ..planner.plan import Plan, plan_dict, plan_json
from . import pyliteral
from .view import view

TEMPLATES = Path(__file__).with_name("templates")
LAUNCH = "accelerate launch --config_file accelerate_config.yaml train.py"


def docstring(text) -> str:
    """Text that is safe inside a triple-quoted docstring."""
    # Python source cannot hold a NUL byte, and reads a raw carriage return as a newline (leaving the file with
    # mixed line endings): both are written as escapes, like the backslash.
    return str(text).replace("\\", "\\\\").replace('"""', '\\"\\"\\"').replace("\0", "\\x00").replace("\r", "\\r")


def markdown(text) -> str:
    """Text for a Markdown line or table cell: one line, pipes escaped."""
    return " ".join(str(text).splitlines()).replace("|", "\\|")


def code_span(text) -> str:
    """A Markdown code span of ``text`` whose fence is longer than any run of backticks inside it."""
    body = markdown(text)
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if body.startswith("`") or body.endswith("`") else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def yaml_string(text) -> str:
    """A double-quoted YAML scalar (JSON strings are valid YAML)."""
    return json.dumps(str(text))


def shell_word(text) -> str:
    """A single-quoted shell word."""
    return "'" + str(text).replace("'", "'\"'\"'") + "'"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters.update(
        md=markdown,
        code=code_span,
        py=pyliteral.literal,
        assign=pyliteral.assign,
        docstring=docstring,
        yaml=yaml_string,
        shell=shell_word,
    )
    return env


def plan_id(plan: Plan) -> str:
    """A short hash of the resolved plan, independent of where the files are written."""
    data = json.dumps(plan_dict(plan, plan.output.dir), sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()[:16]


# How each launcher tells launch.sh the machine's rank and the first machine's address.
RENDEZVOUS = {
    "trainjob": ('"$PET_NODE_RANK"', '"$PET_MASTER_ADDR"', '"$PET_MASTER_PORT"'),
    "pytorchjob": ('"$RANK"', '"$MASTER_ADDR"', '"$MASTER_PORT"'),
    "skypilot": ('"$SKYPILOT_NODE_RANK"', '"$(echo "$SKYPILOT_NODE_IPS" | head -n 1)"', None),
}


def container_dir(plan: Plan, out_dir: Path) -> str:
    """Where ``out_dir`` is inside a container that mounts the project's root at the launcher's mount point."""
    inside = Path(os.path.relpath(out_dir, plan.inputs.project_root)).as_posix()
    return plan.launcher.mount if inside == "." else f"{plan.launcher.mount}/{inside}"


def node_scripts(plan: Plan, out_dir: Path) -> dict[str, str]:
    """The shell line each launcher runs on every machine: launch.sh, told its rank and the rendezvous."""
    if plan.launcher is None or plan.launcher.kind not in ("kubernetes", "skypilot"):
        return {}
    where = shell_word(container_dir(plan, out_dir))
    scripts = {}
    for name, (rank, address, port) in RENDEZVOUS.items():
        port = port or str(plan.launcher.port)
        scripts[name] = (
            f"cd {where} && MACHINE_RANK={rank} MAIN_PROCESS_IP={address} MAIN_PROCESS_PORT={port} exec ./launch.sh"
        )
    return scripts


def job_name(name: str) -> str:
    """A Kubernetes object name (RFC 1035 label) for the spec's name."""
    label = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    if not label[:1].isalpha():
        label = f"ft-{label}".strip("-")
    return label[:63].rstrip("-")


def context(plan: Plan, out_dir: Path) -> dict:
    planned = plan_dict(plan, out_dir)
    return {
        "plan": planned,
        "objective": planned.get("objective"),  # None: supervised learning
        "view": view(plan, out_dir),
        "launch_command": LAUNCH,
        "plan_id": plan_id(plan),
        "node_scripts": node_scripts(plan, out_dir),
        "job_name": job_name(plan.name),
        "placeholders": plan.launcher is not None and "${" in plan.launcher.image + plan.launcher.volume,
        # The training operator's master pod is machine 0; the others are its workers.
        "pytorch_replicas": [("Master", 1), ("Worker", plan.hardware.nodes - 1)][: min(plan.hardware.nodes, 2)],
    }


def file_names(plan: Plan) -> list[str]:
    """The files of the output directory, sorted."""
    names = ["train.py", "eval.py", "accelerate_config.yaml", "launch.sh", "README.md", "plan.json", "chat.py"]
    names += plan.launcher.files
    if plan.data.format != "classification":
        # A generative model is served by an existing engine (vLLM); a classifier has no server here.
        names.append("serve.sh")
    return sorted(names)


def render_file(plan: Plan, out_dir: Path, name: str, ctx: dict | None = None) -> str:
    """One file of the output directory, as text."""
    if name == "plan.json":
        return plan_json(plan, out_dir)
    return environment().get_template(name + ".j2").render(ctx or context(plan, out_dir))


def render(plan: Plan, out_dir: Path) -> dict[str, str]:
    """Every file of the output directory, by name, as text."""
    ctx = context(plan, out_dir)
    return {name: render_file(plan, out_dir, name, ctx) for name in file_names(plan)}
