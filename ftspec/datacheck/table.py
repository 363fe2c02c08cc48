"""The data quality report as a compact, aligned table for the terminal."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..cli.console import shown

if TYPE_CHECKING:
    from .quality import QualityReport, SplitReport

DOT = " · "


def share(part: int, whole: int) -> str:
    """``part`` as a percentage of ``whole``, one decimal."""
    return f"{100 * part / whole:.1f}%" if whole else "0%"


def place(where: tuple[Path, int]) -> str:
    """A row's place as `file:line`, the file as the user sees it."""
    return f"{shown(where[0])}:{where[1]}"


def _files(files: list[Path]) -> str:
    if not files:
        return "no file"
    first = shown(files[0])
    return first if len(files) == 1 else f"{first} and {len(files) - 1} more"


def _labels(split: SplitReport) -> str:
    return DOT.join(f"{label} {count} ({share(count, split.rows)})" for label, count in split.labels.items())


def _lengths(split: SplitReport) -> str:
    return f"min {split.min:,}{DOT}median {split.median:,}{DOT}p90 {split.p90:,}{DOT}max {split.max:,}"


def _train(report: QualityReport, unit: str) -> str:
    train = report.train
    text = f"{train.rows:,} {unit} in {_files(train.files)}"
    if report.held_out is not None:
        kept = train.rows - report.held_out
        text += f": {kept:,} to train, {report.held_out:,} held out (eval_split {report.eval_split:.0%})"
    return text


def _over(report: QualityReport, unit: str) -> str:
    train = report.train
    figure = f"{train.over_max_length:,} ({share(train.over_max_length, train.rows)})"
    if report.format == "text":
        return f"{figure} are split into {report.max_length}-token pieces (nothing is lost)"
    if report.overlong == "drop":
        return f"{figure} are dropped (`overlong = drop`)"
    if report.overlong == "error":
        return f"{figure} are errors (`overlong = error`)"
    return f"{figure} are cut to {report.max_length} tokens"


def quality_table(report: QualityReport) -> str:
    """About ten lines: rows, tokens, lengths, truncation, duplicates, near-empty, labels, eval."""
    unit = report.unit
    train = report.train
    counted = f"counted with {shown(report.tokenizer)}" if report.tokenizer else "estimated at 4 characters a token"
    rows = [
        ("train", _train(report, unit)),
        ("tokens", f"{train.tokens:,} in all, {counted}"),
        (f"per {unit[:-1]}", _lengths(train)),
        (f"over {report.max_length}", _over(report, unit)),
        ("duplicates", f"{train.duplicates:,} ({share(train.duplicates, train.rows)})"),
        ("near-empty", f"{train.near_empty:,} ({share(train.near_empty, train.rows)}) with fewer than 3 words"),
    ]
    if train.labels is not None:
        rows.append(("labels", _labels(train)))
    if report.eval is not None:
        held = report.eval
        also = f"{DOT}{held.also_in_train:,} also in train" if held.also_in_train is not None else ""
        rows.append(("eval", f"{held.rows:,} {unit} in {_files(held.files)}{DOT}{held.tokens:,} tokens{also}"))
        if held.labels is not None:
            rows.append(("eval labels", _labels(held)))
    rows.extend(("note", note) for note in report.notes)
    width = max(len(key) for key, _ in rows)
    lines = [f"data quality of {report.name} ({report.format}):"]
    lines += [f"  {key:<{width}}  {value}" for key, value in rows]
    return "\n".join(lines)
