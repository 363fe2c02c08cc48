"""Render a Plan into the files of `generated/<name>/` with Jinja2 templates.

Templates see only the resolved plan (paths already relative to the output
directory) and write values through the `py`/`assign` filters, which produce
Python literals; StrictUndefined turns a missing value into a compile error.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path

import jinja2

from ..planner.plan import Plan, plan_dict
from . import pyliteral

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


def context(plan: Plan, out_dir: Path) -> dict:
    return {"plan": plan_dict(plan, out_dir), "launch_command": LAUNCH, "plan_id": plan_id(plan)}


def render(plan: Plan, out_dir: Path) -> dict[str, str]:
    """Every file of the output directory, by name, as text."""
    env, ctx = environment(), context(plan, out_dir)
    files = {
        "train.py": env.get_template("train.py.j2").render(ctx),
        "eval.py": env.get_template("eval.py.j2").render(ctx),
        "accelerate_config.yaml": env.get_template("accelerate_config.yaml.j2").render(ctx),
        "launch.sh": env.get_template("launch.sh.j2").render(ctx),
        "README.md": env.get_template("README.md.j2").render(ctx),
        "plan.json": json.dumps(ctx["plan"], indent=2, sort_keys=True) + "\n",
    }
    if plan.data.format != "classification":
        # A generative model is served by an existing engine (vLLM); a classifier has no server here.
        files["serve.sh"] = env.get_template("serve.sh.j2").render(ctx)
    files["chat.py"] = env.get_template("chat.py.j2").render(ctx)
    if plan.hardware.nodes > 1:
        files["slurm.sh"] = env.get_template("slurm.sh.j2").render(ctx)
    return dict(sorted(files.items()))
