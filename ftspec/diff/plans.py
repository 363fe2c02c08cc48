"""Compare two plans: the derived values a change of settings moves, and what the model learns from.

A consequence is a value the planner derives (the effective batch, parameters,
steps, memory, precision, the schedule), so a one-line change of a spec shows
what it does to the job. What the model learns from is its data, by path and by
content, and everything that decides which tokens carry the loss.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..figures import count, duration, plural
from ..hashing import file_hash
from ..planner.cost import cost
from ..planner.estimates import warmup_steps
from ..planner.plan import Plan
from ..spec.fmt import quote
from .report import UNKNOWN, Change
from .revisions import Side


def rate(value: float) -> str:
    """A learning rate as people write it.

    >>> rate(2e-4), rate(1.5e-5), rate(0.003), rate(0.01)
    ('2e-4', '1.5e-5', '3e-3', '0.01')
    """
    if value == 0 or value >= 0.01:
        return f"{value:g}"
    mantissa, exponent = f"{value:.3e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def _length(plan: Plan) -> str:
    train = plan.train
    if train.max_steps is not None:
        return plural(train.max_steps, "step")
    return plural(train.epochs, "epoch")


def _memory(plan: Plan, name: str) -> Any:
    return getattr(plan.memory, name) if plan.memory is not None else None


# (label, the value from a plan, how it is printed, unit, printed exactly when the rounded texts agree)
CONSEQUENCES: tuple[tuple[str, Callable[[Plan], Any], Callable[[Any], str], str, bool], ...] = (
    ("effective batch", lambda p: p.train.effective_batch_size, str, "", False),
    (
        "micro-batch × accumulation × processes",
        lambda p: [p.train.micro_batch_size, p.train.grad_accum, p.hardware.processes],
        lambda v: " × ".join(map(str, v)),
        "",
        False,
    ),
    ("trainable parameters", lambda p: _memory(p, "trainable_params"), count, "", True),
    ("total parameters", lambda p: _memory(p, "total_params"), count, "", True),
    ("optimizer steps", lambda p: p.estimates.optimizer_steps, str, "", False),
    ("tokens per epoch", lambda p: p.estimates.tokens_per_epoch, count, "", True),
    # A mixture's weights, as what they mean: each source's share of an epoch, and the sequences drawn from it.
    ("mix (share of each epoch)", lambda p: _mix(p, "share"), lambda v: _by_source(v, "{:.0%}"), "", False),
    ("sequences drawn per epoch", lambda p: _mix(p, "drawn_per_epoch"), lambda v: _by_source(v, "{:,}"), "", False),
    ("memory per device", lambda p: _memory(p, "per_device_gib"), lambda v: f"{v:g}", "GiB", False),
    ("fits in memory", lambda p: p.fits, lambda v: "yes" if v else "no", "", False),
    ("precision", lambda p: p.hardware.precision, str, "", False),
    ("master weights", lambda p: (_memory(p, "state_dtypes") or {}).get("master_weights"), str, "", False),
    ("optimizer state", lambda p: (_memory(p, "state_dtypes") or {}).get("optimizer_state"), str, "", False),
    ("distribution", lambda p: p.hardware.distributed, str, "", False),
    ("offloaded to host memory", lambda p: p.hardware.offload, str, "", False),
    ("host memory per machine", lambda p: _memory(p, "host_gib"), lambda v: f"{v:g}", "GiB", False),
    ("attention", lambda p: p.base.attention if p.base else None, str, "", False),
    ("kernels", lambda p: p.train.kernels, str, "", False),
    ("launcher files", lambda p: p.launcher.files if p.launcher else None, lambda v: ", ".join(v) or "none", "", False),
    ("elastic restarts", lambda p: p.launcher.max_restarts if p.launcher else None, str, "", False),
    ("training duration", lambda p: p.estimates.duration_hours, duration, "", False),
    ("GPU-hours", lambda p: cost(p)["gpu_hours"], lambda v: f"~{v:.3g}", "", False),
    # A reviewer must see when a change lets the base's repository run its own Python code.
    (
        "runs the base repository's code (trust_remote_code)",
        lambda p: p.base.trust_remote_code,
        lambda v: "yes" if v else "no",
        "",
        False,
    ),
    ("training length", _length, str, "", False),
    ("peak learning rate", lambda p: p.train.learning_rate, rate, "", False),
    ("scheduler", lambda p: p.train.scheduler, str, "", False),
    ("warm-up steps", warmup_steps, str, "", False),
)


def _mix(plan: Plan, figure: str) -> tuple | None:
    """(source, figure) of each source of a mixture; None for one source."""
    if plan.mixture is None:
        return None
    return tuple((source.name, getattr(source, figure)) for source in plan.mixture.sources)


def _by_source(value: tuple, shape: str) -> str:
    return ", ".join(f"{name} {UNKNOWN if figure is None else shape.format(figure)}" for name, figure in value)


def consequences(old: Plan, new: Plan) -> list[Change]:
    """The derived values that differ between two plans, in a fixed order."""
    changes = []
    for label, read, show, unit, exact in CONSEQUENCES:
        before, after = read(old), read(new)
        if before == after:
            continue
        texts = [UNKNOWN if value is None else show(value) for value in (before, after)]
        if texts[0] == texts[1]:
            if not exact:
                continue  # a difference below what the estimate can tell
            texts = [f"{value:,}" for value in (before, after)]
        changes.append(Change(label, before, after, texts[0], texts[1], unit))
    return changes


def _quoted(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(str(item) for item in value) + "]"
    return str(value)


def _share(value: float) -> str:
    return f"{value * 100:g}%"


# What decides which tokens the model sees and which carry the loss: (label, the value from a plan, how it is printed).
LEARNING: tuple[tuple[str, Callable[[Plan], Any], Callable[[Any], str]], ...] = (
    ("hub dataset", lambda p: p.data.hub, _quoted),
    ("hub dataset revision", lambda p: p.data.revision, _quoted),
    ("hub dataset config", lambda p: p.data.config, _quoted),
    ("hub dataset files", lambda p: list(p.data.data_files) if p.data.data_files else None, _quoted),
    ("split read", lambda p: p.data.split, _quoted),
    ("rows read at most", lambda p: p.data.max_samples, str),
    ("min length (tokens)", lambda p: p.data.min_length, str),
    ("data format", lambda p: p.data.format, str),
    ("text column", lambda p: p.data.text_column, _quoted),
    ("prompt column", lambda p: p.data.prompt_column, _quoted),
    ("response column", lambda p: p.data.response_column, _quoted),
    ("messages column", lambda p: p.data.messages_column, _quoted),
    ("message keys", lambda p: [p.data.role_key, p.data.content_key] if p.data.role_key else None, _quoted),
    ("role names", lambda p: p.data.roles, lambda roles: ", ".join(f"{k} as {v}" for k, v in roles.items())),
    ("input column", lambda p: p.data.input_column, _quoted),
    ("label column", lambda p: p.data.label_column, _quoted),
    ("label set", lambda p: list(p.data.labels) if p.data.labels is not None else None, _quoted),
    ("prompt template", lambda p: p.data.template, _quoted),
    ("prompt template without input", lambda p: p.data.template_no_input, _quoted),
    ("chat template", lambda p: p.data.chat_template, _quoted),
    ("train on prompt", lambda p: p.data.train_on_prompt, _quoted),
    ("max length (tokens)", lambda p: p.data.max_length, str),
    ("examples over max length", lambda p: p.data.overlong, str),
    # Which rows are held out, so which are trained on: the share, and the seed that draws them.
    ("held-out share", lambda p: p.data.eval_split, _share),
    ("split seed", lambda p: p.data.shuffle_seed if p.data.eval_split is not None else None, str),
)


def sha256(path: Path) -> str:
    """The content hash of one data file, as `sha256:<hex>`."""
    return "sha256:" + file_hash(path)


def _files(plan: Plan, side: Side) -> dict[str, str | None]:
    """Training and held-out files by their path from the repository root; None: missing at the revision."""
    paths = (*plan.data.train, *plan.data.eval)
    return {side.relative(path): None if path in side.missing else sha256(path) for path in paths}


def _hash_text(digest: str | None, side: Side) -> str:
    return f"not in {side.revision}" if digest is None else digest.replace(":", " ")[:19]


def learns_from(old: Plan, new: Plan, old_side: Side, new_side: Side) -> list[Change]:
    """Changes of the data files (by path and content) and of how rows become tokens and labels."""
    changes = []
    for label, files in (("training files", lambda p: p.data.train), ("held-out files", lambda p: p.data.eval)):
        before = [old_side.relative(path) for path in files(old)]
        after = [new_side.relative(path) for path in files(new)]
        if before != after:
            changes.append(Change(label, before, after, _quoted(before), _quoted(after)))
    old_files, new_files = _files(old, old_side), _files(new, new_side)
    for name, digest in new_files.items():
        if name in old_files and old_files[name] != digest:
            before = old_files[name]
            texts = _hash_text(before, old_side), _hash_text(digest, new_side)
            changes.append(Change(f"content of {name}", before, digest, *texts))
    for prefix, old_view, new_view in _views(old, new):
        for label, read, show in LEARNING:
            before, after = read(old_view), read(new_view)
            if before != after:
                texts = ("none" if value is None else show(value) for value in (before, after))
                changes.append(Change(prefix + label, before, after, *texts))
    return changes


def _views(old: Plan, new: Plan) -> list[tuple[str, Plan, Plan]]:
    """The plans to compare how rows become tokens in: the two, or each source both mixtures have, as `data`."""
    if old.mixture is None or new.mixture is None:
        return [("", old, new)]
    before = {source.name: source.data for source in old.mixture.sources}
    return [
        (f"source {source.name}: ", old.with_(data=before[source.name]), new.with_(data=source.data))
        for source in new.mixture.sources
        if source.name in before
    ]
