"""The data quality report: rows, duplicates, near-empty examples, token lengths and label balance.

Tokens are counted with the base model's own `tokenizer.json` when one is on
disk (a local base, a built base spec, or the hub cache; never the network),
loaded with the `tokenizers` library; otherwise they are estimated at four
characters a token, and the report says so. Findings worth a second look
become warnings (FT7xx) at the spec's `data.train` setting.
"""

from __future__ import annotations

import hashlib
import json
import math
from array import array
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from ..diagnostics import Diagnostic, Severity, Span
from ..inputs.modelinfo import cached_file
from ..planner.plan import Plan, relative
from .table import place, quality_table, share

CHARS_PER_TOKEN = 4  # the usual figure for English with a BPE vocabulary
NEAR_EMPTY_WORDS = 3
DUPLICATES_WARN = 0.01
TRUNCATED_WARN = 0.10
RARE_LABEL = 0.05
# Counting a huge text in full is slow and says nothing more: the rest is extrapolated from this prefix.
COUNT_PREFIX = 200_000
CHUNK = 1 << 20


def tokenizer_file(plan: Plan) -> Path | None:
    """The base model's `tokenizer.json` on this machine, if there is one; the network is never asked."""
    tokenizer, base = plan.tokenizer, plan.base
    if tokenizer.source == "train":
        return None  # learned from the data when the run starts
    if tokenizer.source == "named":
        local = plan.inputs.tokenizer_dir
        found = local / "tokenizer.json" if local else cached_file(tokenizer.model, "main", "tokenizer.json")
    elif base.source in ("local", "spec"):
        found = base.path / "tokenizer.json"
    elif base.source == "package":
        found = plan.inputs.base_dir / "tokenizer.json"
    elif base.source == "hub":
        found = cached_file(base.model, base.revision, "tokenizer.json")
    else:
        found = None
    return found if found is not None and found.is_file() else None


@lru_cache(maxsize=2)
def _loaded(path: str, size: int, mtime_ns: int):
    """The tokenizer of ``path`` as it is now (its size and modification time): loaded once per process, since a
    large one takes a second or more, and the editor's server checks after every edit."""
    from tokenizers import Tokenizer  # Rust, no training stack: safe for `check`

    tokenizer = Tokenizer.from_file(path)
    tokenizer.no_truncation()  # a saved truncation would cap the counts
    tokenizer.no_padding()
    return tokenizer


class TokenCounter:
    """Token counts with a tokenizer.json, or estimates at CHARS_PER_TOKEN when there is none."""

    def __init__(self, path: Path | None, extra: int):
        self.path, self.extra, self.tokenizer = path, extra, None
        if path is not None:
            try:
                stat = path.stat()
                self.tokenizer = _loaded(str(path), stat.st_size, stat.st_mtime_ns)
            except Exception:  # an unreadable tokenizer.json only costs precision
                self.path = None

    @property
    def estimated(self) -> bool:
        return self.tokenizer is None

    def count(self, texts: list[str]) -> list[int]:
        if self.tokenizer is None:
            return [math.ceil(len(text) / CHARS_PER_TOKEN) + self.extra for text in texts]
        encoded = self.tokenizer.encode_batch([text[:COUNT_PREFIX] for text in texts])
        counts = []
        for text, tokens in zip(texts, encoded, strict=True):
            scale = len(text) / COUNT_PREFIX if len(text) > COUNT_PREFIX else 1
            counts.append(round(len(tokens.ids) * scale) + self.extra)
        return counts


@dataclass
class SplitReport:
    """The figures of one split (`train` or `eval`)."""

    files: list[Path]
    rows: int = 0
    duplicates: int = 0
    first_duplicate: tuple[Path, int] | None = None  # (file, line; a Parquet file's row)
    near_empty: int = 0
    first_near_empty: tuple[Path, int] | None = None
    tokens: int = 0
    min: int = 0
    median: int = 0
    p90: int = 0
    max: int = 0
    over_max_length: int = 0
    labels: dict[str, int] | None = None
    also_in_train: int | None = None


def fingerprint(text: str) -> tuple[bytes, int]:
    """A hash of ``text`` with its whitespace normalised, and its word count.

    The text is taken a megabyte at a time, cut at whitespace, so a 50 MB row
    never becomes one list of millions of words.
    """
    digest, words, start = hashlib.blake2b(digest_size=16), 0, 0
    while start < len(text):
        end = min(len(text), start + CHUNK)
        while end < len(text) and not text[end].isspace():
            end += 1
        piece = text[start:end].split()
        if piece:
            digest.update((" " if words else "").encode() + " ".join(piece).encode("utf-8", "replace"))
            words += len(piece)
        start = end
    return digest.digest(), words


class Tally:
    """Accumulates one split's figures row by row; token counting is batched."""

    def __init__(
        self, files: list[Path], counter: TokenCounter, max_length: int, train: set | None = None, overlong=None
    ):
        self.report = SplitReport(files)
        self.overlong = overlong  # an overlong.Overlong that sees the same rows, for located length faults
        self.counter, self.max_length, self.train = counter, max_length, train
        self.seen: set[bytes] = set()
        self.lengths = array("q")
        self.pending: list[str] = []
        self.labels: Counter[str] = Counter()

    def add(self, text: str, content: str, where: tuple[Path, int], label: str | None = None) -> None:
        """One example: ``text`` as the model reads it, ``content`` as the row wrote it (no template)."""
        report = self.report
        report.rows += 1
        key, words = fingerprint(content)
        if key in self.seen:
            report.duplicates += 1
            report.first_duplicate = report.first_duplicate or where
        self.seen.add(key)
        if self.train is not None and key in self.train:
            report.also_in_train = (report.also_in_train or 0) + 1
        if 0 < words < NEAR_EMPTY_WORDS:
            report.near_empty += 1
            report.first_near_empty = report.first_near_empty or where
        if label is not None:
            self.labels[label] += 1
        self.pending.append(text)
        if len(self.pending) >= 256:
            self._flush()

    def _flush(self) -> None:
        self.lengths.extend(self.counter.count(self.pending))
        self.pending = []

    def finish(self, labels: tuple[str, ...] | None) -> SplitReport:
        self._flush()
        report, lengths = self.report, sorted(self.lengths)
        if self.train is not None:
            report.also_in_train = report.also_in_train or 0
        if lengths:
            report.tokens, report.min, report.max = sum(lengths), lengths[0], lengths[-1]
            report.median = lengths[(len(lengths) - 1) // 2]
            report.p90 = lengths[min(len(lengths) - 1, math.ceil(0.9 * len(lengths)) - 1)]
            report.over_max_length = sum(1 for n in lengths if n > self.max_length)
        if labels is not None:
            extra = sorted(set(self.labels) - set(labels))
            report.labels = {label: self.labels[label] for label in (*labels, *extra)}
        return report


@dataclass
class QualityReport:
    """What the data looks like to the training script; `table()` for people, `to_json()` for a run directory."""

    name: str
    format: str
    max_length: int
    packing: bool
    tokenizer: Path | None
    train: SplitReport
    eval: SplitReport | None = None
    eval_split: float | None = None
    held_out: int | None = None
    notes: list[str] = field(default_factory=list)
    overlong: str = "cut"  # what happens to an example over max_length: cut, drop or error
    unit: str = "examples"  # what a row is called: `paragraphs` for a text file

    @property
    def estimated(self) -> bool:
        return self.tokenizer is None

    def as_dict(self, start: Path) -> dict:
        """Plain data with paths relative to ``start``."""
        data = relative(asdict(self), start)
        data["tokens_estimated"] = self.estimated
        return data

    def to_json(self, start: Path | None = None) -> str:
        """The report as JSON, paths relative to ``start`` (the run directory)."""
        return json.dumps(self.as_dict(start or Path.cwd()), indent=2, sort_keys=True) + "\n"

    def table(self) -> str:
        """About ten aligned lines for the terminal."""
        return quality_table(self)


def quality_warnings(report: QualityReport, setting: Span) -> list[Diagnostic]:
    """Findings worth a second look, as FT7xx warnings at the spec's `data.train` setting."""
    found: list[Diagnostic] = []
    train, rows = report.train, report.train.rows

    def warn(code: str, message: str, help: str) -> None:
        found.append(Diagnostic(code, message, setting, help, Severity.WARNING))

    # Packed text is one stream of tokens: a short or repeated text is not an example of its own.
    examples = not (report.format == "text" and report.packing)
    if examples and train.duplicates > DUPLICATES_WARN * rows:
        warn(
            "FT701",
            f"{train.duplicates} of {rows} training examples ({share(train.duplicates, rows)}) repeat an earlier one",
            f"the first repeat is {place(train.first_duplicate)}; repeated examples weigh more in training "
            "and can leak into the held-out rows: remove them",
        )
    if examples and train.near_empty:
        warn(
            "FT702",
            f"{train.near_empty} training example{'s' * (train.near_empty != 1)} "
            f"{'have' if train.near_empty != 1 else 'has'} fewer than {NEAR_EMPTY_WORDS} words",
            f"the first is at {place(train.first_near_empty)}; check that the right columns are read, "
            "and remove examples that teach nothing",
        )
    # Text is cut into max_length pieces, not truncated, so only the other formats lose tokens.
    if report.format != "text" and report.overlong != "error" and train.over_max_length > TRUNCATED_WARN * rows:
        estimate = f" (estimated at {CHARS_PER_TOKEN} characters a token)" if report.estimated else ""
        warn(
            "FT703",
            f"{train.over_max_length} of {rows} training examples ({share(train.over_max_length, rows)}) "
            f"are longer than `max_length = {report.max_length}` tokens and will be "
            + ("cut" if report.overlong == "cut" else "dropped"),
            f"raise `data.max_length`: 90% of the examples fit in {train.p90:,} tokens and the longest "
            f"has {train.max:,}{estimate}; or shorten the examples",
        )
    for label, count in (train.labels or {}).items():
        if count < RARE_LABEL * rows:
            warn(
                "FT704",
                f"label `{label}` has {count} of {rows} training rows ({share(count, rows)})",
                "a classifier seldom predicts a label it seldom sees: add examples of it, "
                "or merge it into another label",
            )
    return found
