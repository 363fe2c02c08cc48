"""Combinations of an `objective` with the data and strategy that cannot work, each pointing at its cause."""

from __future__ import annotations

from ..diagnostics import Diagnostics
from .objectives import REFERENCED_KINDS
from .schema import PEFT_KINDS, Spec
from .sourcemap import SourceMap

# The columns each objective reads from `format = preference` rows.
PAIRED_COLUMNS = ("chosen", "rejected")
UNPAIRED_COLUMNS = ("prompt", "completion", "label")


def columns_of(kind: str) -> tuple[str, ...]:
    """The column settings an objective cannot do without."""
    return UNPAIRED_COLUMNS if kind == "kto" else PAIRED_COLUMNS


def check_objective(spec: Spec, sources: SourceMap, diags: Diagnostics) -> None:
    """FT230, FT231, FT233–FT236: an objective and its data, columns, reference and packing."""
    objective, data = spec.objective, spec.data
    if objective is None:
        if data.format == "preference":
            diags.error(
                "FT233",
                "`format = preference` needs an objective: supervised training has no use for a worse answer",
                sources.at("data", "format"),
                "add `objective dpo { }` (or `orpo`, `simpo`, `kto`), or use `format = instruction`",
            )
        return
    kind = objective.kind
    if data.format != "preference":
        diags.error(
            "FT230",
            f"`objective {kind}` learns from preferences, but `format = {data.format}` rows have none",
            sources.at("data", "format") if sources.setting("data", "format") else sources.at("objective"),
            "use `format = preference` with "
            + " and ".join(f"`{c}`" for c in columns_of(kind))
            + " columns, or remove the `objective` block for supervised training",
        )
        return
    for column in columns_of(kind):
        if getattr(data, column) is None:
            diags.error(
                "FT231",
                f"`objective {kind}` on `format = preference` needs `data.{column}`",
                sources.at("data", "format"),
                f'add `{column} = "column"` to the `data` block: '
                + ("the prompt, the answer, and whether it is desirable" if kind == "kto" else "the two answers"),
            )
    other = PAIRED_COLUMNS if kind == "kto" else ("completion",)
    for column in other:
        if sources.setting("data", column) is not None:
            diags.error(
                "FT234",
                f"`data.{column}` does not apply to `objective {kind}`",
                sources.key_at("data", column),
                "`kto` reads unpaired rows (`completion`, `label`); the others read pairs (`chosen`, `rejected`)",
            )
    reference = getattr(objective, "reference", None)
    if kind in REFERENCED_KINDS and reference == "adapter" and spec.strategy.kind not in PEFT_KINDS:
        diags.error(
            "FT235",
            f"`reference = adapter` switches an adapter off, but `strategy {spec.strategy.kind}` has none",
            sources.at("objective", "reference"),
            "use `reference = copy` (a frozen copy of the starting weights) or an adapter strategy",
        )
    if data.packing:
        diags.error(
            "FT236",
            "`packing` does not apply to preference data: each answer is scored as one whole sequence",
            sources.at("data", "packing"),
            "remove `packing = true`",
        )
