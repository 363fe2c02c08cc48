"""How many of a data set's rows the training script reads: the split's slice, then `max_samples`.

The estimates use it so that steps, tokens and duration follow the rows that train, not the whole file.
"""

from __future__ import annotations

import re

from .plan import Plan

SLICE = re.compile(r"\[(-?\d+%?)?:(-?\d+%?)?\]$")


def _bound(text: str | None, rows: int, default: int) -> int:
    """One end of a slice as a row index, the way datasets reads it (percentages rounded to the closest row)."""
    if text is None:
        return default
    index = round(float(text[:-1]) * rows / 100) if text.endswith("%") else int(text)
    index = index + rows if index < 0 else index
    return min(max(index, 0), rows)


def rows_read(plan: Plan, rows: int) -> int:
    """The rows of ``rows`` that the split's slice and `max_samples` leave, before the held-out split.

    >>> from ftspec.planner.testing import plan_until
    >>> from ftspec.planner.mixture import decide_sources
    >>> rows_read(plan_until('data { split = "train[:20%]" }', decide_sources), 260)
    52
    >>> rows_read(plan_until('data { split = "train[-100:]"\\n max_samples = 30 }', decide_sources), 260)
    30
    """
    data = plan.data
    found = SLICE.search(data.split)
    if found:
        start, stop = _bound(found.group(1), rows, 0), _bound(found.group(2), rows, rows)
        rows = max(stop - start, 0)
    return min(rows, data.max_samples) if data.max_samples is not None else rows


def read_share(plan: Plan) -> float:
    """The share of the training files' rows that the script reads (1 when their rows are unknown)."""
    total = plan.inputs.data_rows
    return rows_read(plan, total) / total if total else 1.0
