"""The text of `ftspec suggest`: a heading, the workload the figures assume, an aligned table and what was left out.

Plain text kept within 100 columns: a model id too long for its column gets a line of its own, the rest of its row
on the next one, so ids stay whole and can be copied into a spec.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

from ..inputs.hardware import GIB
from ..planner.memory import MARGIN

if TYPE_CHECKING:
    from .candidates import Candidate, Hardware

WIDTH = 100
MODEL_WIDTH = 32  # longer ids (a few of the catalog's) go on a line of their own
STRATEGY_NAMES = ("full", "lora", "qlora")


def _size(params: int) -> str:
    return f"{params / 1e9:.1f}B" if params >= 1e9 else f"{params / 1e6:.0f}M"


def _gib(value: float) -> str:
    gib = value / GIB
    return f"{gib:.0f}" if gib >= 100 else f"{gib:.1f}"  # keeps the columns narrow; 0.1 GiB of 100 is noise


def _licence(candidate: Candidate) -> str:
    entry = candidate.entry
    return entry.license if entry.commercial_use else f"{entry.license} (non-commercial)"


def _row(candidate: Candidate, fitting: bool) -> tuple[str, ...]:
    entry = candidate.entry
    first = (entry.id, _size(entry.params), str(entry.context_length))
    if fitting:
        fit = candidate.fit
        strategy = fit.strategy + (", fsdp" if fit.sharded else "")
        return (*first, strategy, _gib(fit.peak), _licence(candidate))
    return (*first, *(_gib(candidate.peaks[name]) for name in STRATEGY_NAMES), _licence(candidate))


def table(headers: tuple[str, ...], rows: list[tuple[str, ...] | str], right: set[int]) -> list[str]:
    """Aligned columns separated by two spaces; a plain string in `rows` is a section title on its own line."""
    cells = [headers, *(row for row in rows if not isinstance(row, str))]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    widths[0] = min(widths[0], MODEL_WIDTH)

    def line(row: tuple[str, ...], first: str) -> str:
        parts = [first.ljust(widths[0])]
        parts += [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row) if i]
        return "  ".join(parts).rstrip()

    lines = [line(headers, headers[0])]
    for row in rows:
        if isinstance(row, str):
            lines.append(row)
        elif len(row[0]) > widths[0]:
            lines += [row[0], line(row, "")]
        else:
            lines.append(line(row, row[0]))
    return lines


def _workload(hw: Hardware | None, micro_batch: int) -> str:
    assumed = (
        f"micro-batch {micro_batch} x 512 tokens (or the model's context), gradient checkpointing, bf16, AdamW; "
        "LoRA and QLoRA at rank 16 on every linear layer"
    )
    if hw is not None and hw.usable is not None:
        return (
            f"fit on {hw.name}, {hw.usable / GIB:.1f} GiB usable per GPU ({MARGIN:.0%} kept free, as the planner "
            f"does), the cheapest strategy first; {assumed}"
        )
    given = f"`{hw.name}` has no GPU memory figure" if hw is not None else "no hardware given"
    return (
        f"{given}: peak GiB per GPU for each strategy at {assumed}. --target NAME or --gpus N --gpu-memory SIZE "
        "lists only what fits, with the cheapest strategy"
    )


def _sections(specialty: str, found: list[Candidate], fitting: bool, hw: Hardware | None) -> list:
    """Rows under a title for each group: the specialists' encoders and decoders, then the general-purpose ones."""
    rows: list = []
    shown = [c for c in found if c.fit is not None] if fitting else found
    if specialty and not any(c.specialist for c in shown):
        where = f"none fits {hw.name}" if any(c.specialist for c in found) else "none in the catalog"
        rows.append(f"-- {specialty} models: {where}")
    group = None
    for candidate in shown:
        if (candidate.specialist, candidate.entry.kind) != group:
            group = (candidate.specialist, candidate.entry.kind)
            rows.append(f"-- {specialty if candidate.specialist else 'general-purpose'} {candidate.entry.kind}s")
        rows.append(_row(candidate, fitting))
    return rows


def _footer(found: list[Candidate], left_out: dict[str, int], fitting: bool, hw: Hardware | None) -> list[str]:
    notes = []
    too_large = [c.entry.id for c in found if fitting and c.fit is None]
    if too_large:
        notes.append(f"too large for {hw.name} even with QLoRA: " + ", ".join(too_large))
    skipped = []
    if left_out["other domains"]:
        skipped.append(f"{left_out['other domains']} specialists of other domains")
    if left_out["encoders"]:
        skipped.append(f"{left_out['encoders']} encoders (they cannot generate text)")
    if skipped:
        notes.append("not listed: " + "; ".join(skipped))
    notes.append("licence: the model card's tag, marked (non-commercial) where it does not allow commercial use")
    return notes


def render(
    heading: str,
    specialty: str,
    task: str | None,
    hw: Hardware | None,
    found: list[Candidate],
    left_out: dict[str, int],
    micro_batch: int,
) -> str:
    """The whole output of `ftspec suggest`."""
    fitting = hw is not None and hw.usable is not None
    if task == "classification":
        heading += "; task classification: encoders first, decoders allowed"
    elif task is not None:
        heading += f"; task {task}: decoders"
    prose = [heading, _workload(hw, micro_batch)]
    lines = [line for text in prose for line in textwrap.wrap(text, WIDTH)] + [""]
    if fitting:
        headers, right = ("model", "size", "context", "fits as", "GiB", "licence"), {1, 2, 4}
    else:
        headers, right = ("model", "size", "context", *STRATEGY_NAMES, "licence"), {1, 2, 3, 4, 5}
    lines += table(headers, _sections(specialty, found, fitting, hw), right)
    lines.append("")
    for note in _footer(found, left_out, fitting, hw):
        lines += textwrap.wrap(note, WIDTH, subsequent_indent="  ")
    return "\n".join(lines)
