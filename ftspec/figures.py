"""Figures as people read them: counts and durations at a glance."""

from __future__ import annotations


def count(value: float) -> str:
    """A parameter or token count at a glance.

    >>> count(6_738_415_616), count(1_000_000_000), count(32_768), count(512)
    ('6.7B', '1B', '32.8k', '512')
    """
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:.1f}".removesuffix(".0") + unit
    return f"{value:.0f}"


def plural(n: int, noun: str) -> str:
    """``n`` and its noun, in the plural unless there is one.

    >>> plural(1, "epoch"), plural(3, "node"), plural(2, "process")
    ('1 epoch', '3 nodes', '2 processes')
    """
    if n == 1:
        return f"{n:,} {noun}"
    return f"{n:,} {noun}" + ("es" if noun.endswith("s") else "s")


def duration(hours: float) -> str:
    """An estimated training time, rounded as far as an estimate deserves.

    >>> duration(0.001), duration(0.25), duration(3.14)
    ('under a minute', '~15 min', '~3.1 h')
    """
    if hours < 1 / 60:
        return "under a minute"
    return f"~{hours * 60:.0f} min" if hours < 1 else f"~{hours:.1f} h"
