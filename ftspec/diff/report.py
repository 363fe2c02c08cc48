"""What `ftspec diff` reports: changes of settings, of their consequences, and of what the model learns from.

The text is meant to be pasted into a review: sections in a fixed order, one change
a line, no paths but those relative to the repository, nothing that varies between
runs. `--json` carries the same changes as data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ARROW = "→"


@dataclass(frozen=True)
class Change:
    """One difference: a key, its old and new values as data (None where absent), and as printed."""

    key: str
    old: Any
    new: Any
    old_text: str | None  # None: the old side has no such setting (an addition)
    new_text: str | None  # None: the new side has no such setting (a removal)
    unit: str = ""

    def line(self) -> str:
        """The change as one line: `key: old → new`, `+ key = new` or `- key = old`.

        >>> Change("train.learning_rate", 2e-4, 1e-4, "2e-4", "1e-4").line()
        'train.learning_rate: 2e-4 → 1e-4'
        >>> Change("memory per device", 13.5, 14.2, "13.5", "14.2", "GiB").line()
        'memory per device: 13.5 → 14.2 GiB'
        >>> Change("eval.compare_base", None, True, None, "true").line()
        '+ eval.compare_base = true'
        """
        if self.old_text is None:
            return f"+ {self.key} = {self.new_text}"
        if self.new_text is None:
            return f"- {self.key} = {self.old_text}"
        old, new = self.old_text, self.new_text
        if self.unit and UNKNOWN in (old, new):
            old, new = (text if text == UNKNOWN else f"{text} {self.unit}" for text in (old, new))
        elif self.unit:
            new = f"{new} {self.unit}"
        return f"{self.key}: {old} {ARROW} {new}"

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "old": self.old, "new": self.new}


UNKNOWN = "unknown"  # a consequence the planner could not estimate on one side


@dataclass(frozen=True)
class SpecDiff:
    """Every change between two specs, by section, each section in a stable order."""

    settings: list[Change] = field(default_factory=list)
    consequences: list[Change] = field(default_factory=list)
    learns_from: list[Change] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.settings or self.consequences or self.learns_from)

    def text(self) -> str:
        """The diff as review text: one heading per section with changes, one indented line per change."""
        if self.empty:
            return "no differences in meaning"
        sections = (
            ("settings:", self.settings),
            ("consequences:", self.consequences),
            ("what the model learns from changes:", self.learns_from),
        )
        blocks = ["\n".join([heading, *(f"  {change.line()}" for change in changes)]) for heading, changes in sections]
        return "\n\n".join(block for block, (_, changes) in zip(blocks, sections, strict=True) if changes)

    def as_json(self) -> dict[str, list[dict[str, Any]]]:
        """The same changes as data: `{"settings": [...], "consequences": [...], "learns_from": [...]}`."""
        return {
            "settings": [change.as_json() for change in self.settings],
            "consequences": [change.as_json() for change in self.consequences],
            "learns_from": [change.as_json() for change in self.learns_from],
        }
