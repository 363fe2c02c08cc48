"""Hover text: a key's reference row, a block's description, and for a value what the plan makes of it.

The rows are `ftspec.spec.reference`'s, the ones the README's spec reference prints. For a value, the
figure comes from the last good plan of the buffer when there is one (the effective batch of
`batch_size`, the learning rate the strategy picks, the optimizer steps of `epochs`), else the default.
"""

from __future__ import annotations

from typing import Any

from ..spec import schema
from ..spec.reference import HEADER, default_of, row
from ..spec.validate import TOP, model_for
from .complete import field_of
from .context import cursor_at, word_at


def _qualified(block: str, key: str) -> str:
    return key if block == TOP else f"{block}.{key}"


def key_text(block: str, label: str | None, key: str) -> str | None:
    """Markdown for a key: its qualified name and its reference row."""
    field = field_of(block, label, key)
    if field is None:
        return None
    owner = label if block == "strategy" else block
    where = f"strategy {label}" if block == "strategy" else (block or "top level")
    return "\n".join([f"**`{_qualified(block, key)}`** ({where})", "", *HEADER, row(owner or "", key, field)])


def block_text(name: str, label: str | None) -> str | None:
    model = model_for(name, label) if name in schema.BLOCKS else None
    if model is None or (name == "strategy" and label is None):
        return None
    title = f"strategy {label}" if name == "strategy" else name
    return f"**`{title}`**\n\n{(model.__doc__ or '').strip()}"


def _effective_batch(plan) -> str:
    t, processes = plan.train, plan.hardware.processes
    return (
        f"effective batch {t.effective_batch_size}: micro-batch {t.micro_batch_size} per process"
        f" × {processes} process{'es' if processes != 1 else ''} × accumulation {t.grad_accum}"
    )


def _steps(plan) -> str | None:
    steps = plan.estimates.optimizer_steps
    return f"{steps} optimizer steps (estimated)" if steps is not None else None


# Plan figures worth a hover, by setting: each a function of the Plan.
FIGURES: dict[tuple[str, str], Any] = {
    ("train", "batch_size"): _effective_batch,
    ("train", "grad_accum"): _effective_batch,
    ("train", "epochs"): _steps,
    ("train", "max_steps"): _steps,
    ("train", "learning_rate"): lambda plan: f"learning rate {plan.train.learning_rate:g}",
    ("train", "warmup"): lambda plan: (
        f"{plan.train.warmup_steps} warm-up steps"
        if plan.train.warmup_steps is not None
        else f"warm-up over {plan.train.warmup_ratio:.0%} of the steps"
    ),
    ("train", "precision"): lambda plan: f"precision {plan.hardware.precision} on `{plan.hardware.target}`",
    ("train", "gradient_checkpointing"): lambda plan: f"gradient checkpointing {plan.train.gradient_checkpointing}",
    ("hardware", "distributed"): lambda plan: (
        f"distributed {plan.hardware.distributed} over {plan.hardware.processes * plan.hardware.nodes} process(es)"
    ),
    ("hardware", "gpus"): lambda plan: f"{plan.hardware.devices_per_node} device(s) per machine",
    ("data", "packing"): lambda plan: f"packing {str(plan.data.packing).lower()}",
    ("data", "eval_split"): lambda plan: f"eval split {plan.data.eval_split}",
}


def value_text(block: str, label: str | None, key: str, plan) -> str | None:
    """Markdown for a value: the plan's figure for it when there is a plan, else the setting's default."""
    field = field_of(block, label, key)
    if field is None:
        return None
    figure = FIGURES.get((block, key))
    if plan is not None and figure is not None:
        found = figure(plan)
        if found:
            return f"**`{_qualified(block, key)}`**: {found} (from the plan)"
    owner = label if block == "strategy" else block
    return f"**`{_qualified(block, key)}`**: default {default_of(owner or '', key, field)}"


def hover(text: str, line: int, character: int, plan=None) -> tuple[str, tuple[int, int]] | None:
    """Markdown for what is under a 0-based position, and the word's columns; None over nothing known."""
    word = word_at(text, line, character)
    if word is None:
        return None
    at = cursor_at(text, line, word.end)
    rest = text.split("\n")[line][word.end :].lstrip()
    found = None
    if at.in_value and at.key:
        found = value_text(at.block, at.label, at.key, plan)
    elif word.kind == "word" and rest.startswith("="):
        found = key_text(at.block, at.label, word.text)
    elif word.kind == "word" and at.statement == ("strategy",):
        found = block_text("strategy", word.text)
    elif word.kind == "word" and (rest.startswith("{") or (word.text == "strategy" and rest)):
        label = rest.split()[0] if word.text == "strategy" and rest.split() else None
        found = block_text(word.text, label if label and label != "{" else None)
    return (found, (word.start, word.end)) if found else None
