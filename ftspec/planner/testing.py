"""Plans from spec text in memory, for the passes' docstring examples and the tests."""

from __future__ import annotations

from pathlib import Path

from ..diagnostics import FtspecError
from ..inputs.facts import Inputs, model_dims
from ..inputs.hardware import from_block
from ..spec.compose import extend
from ..spec.lower import lower
from ..spec.parser import parse
from ..spec.validate import validate
from . import PASSES, draft, run_passes
from .plan import Plan

MINIMAL = """name = "demo"
base { model = "org/model" }
data { train = "train.jsonl" }
strategy lora { }
"""
MINIMAL_SCRATCH = """name = "demo"
data { train = "train.txt" }
tokenizer { train = true }
strategy scratch { }
"""
ROOT = Path("/project")


def inputs_from_text(text: str = "", target: str | None = None) -> Inputs:
    """Inputs for ``text`` laid over a minimal LoRA (or scratch) spec; data files are taken to exist."""
    base = MINIMAL_SCRATCH if "strategy scratch" in text else MINIMAL
    docs = []
    for name, source in (("base.ft", base), ("spec.ft", text)):
        tree, diags = parse(source, name)
        if tree is None:
            raise FtspecError(diags)
        docs.append(lower(tree, name, source)[0])
    spec, sources, diags = validate(extend(docs[1], docs[0]))
    if spec is None:
        raise FtspecError(diags)
    hardware = from_block(spec.hardware, target)
    model = spec.base.model if spec.base else None
    package = tuple(model[len("package:") :].split("/", 1)) if model and model.startswith("package:") else None
    train = () if spec.data.train.startswith("hub:") else (ROOT / "data" / spec.data.train,)
    evals = (ROOT / "data" / spec.data.eval,) if spec.data.eval else ()
    dims, _ = model_dims(spec, base_dir=None)  # scratch: the spec's architecture; a hub id: the catalog's
    return Inputs(
        spec=spec,
        sources=sources,
        spec_file=ROOT / "specs" / "spec.ft",
        spec_hash="0" * 64,
        data_train=train,
        data_eval=evals,
        project_root=ROOT,
        hardware=hardware,
        output_dir=(ROOT / "specs" / spec.output.dir) if spec.output.dir else ROOT / "runs" / spec.name,
        base_package=package,
        model_dims=dims,
        dims_source="test",
        data_bytes=10_000,
        data_rows=100,
        dependency_output=ROOT / "runs" / "base" if spec.base and spec.base.spec else None,
        dependency_name="base" if spec.base and spec.base.spec else None,
    )


def plan_until(text: str = "", until=None, target: str | None = None) -> Plan:
    """The draft plan for ``text`` after every pass up to and including ``until``."""
    passes = PASSES if until is None else PASSES[: PASSES.index(until) + 1]
    return run_passes(draft(inputs_from_text(text, target)), passes)
