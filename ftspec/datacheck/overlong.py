"""Examples that do not fit in `max_length`: located faults with `overlong = error`, and answers cut away.

FT620  an example longer than `max_length` when `data.overlong = error` (an error, located at its row)
FT621  an example whose prompt alone fills `max_length`, so every answer token is cut away (a warning)
FT622  no example keeps an answer token: the run would learn nothing (an error at `data.max_length`)

Token counts are the quality report's: the base's tokenizer.json when it is on disk, else 4 characters a token.
For chat rows the prompt is the text of the turns before the first assistant turn, without the template's own
tokens, so an answer is reported cut away only when it surely is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..diagnostics import Diagnostic, Severity, Span
from ..planner.plan import Plan
from .preference import prompt_and_answer

LIMIT = 5  # rows of one kind shown per file, as for the other data faults
BATCH = 256


class _Cells(dict):
    def __missing__(self, key: str) -> str:
        return ""


def _prompt(plan: Plan, values: dict) -> str | None:
    """The text before the answer, or None when the whole example is learned (or has no answer)."""
    data = plan.data
    if data.train_on_prompt:
        return None
    if data.format == "instruction":
        cells = _Cells({key: "" if value is None else str(value) for key, value in values.items()})
        try:
            return data.template.format_map(cells)
        except (ValueError, KeyError, IndexError, AttributeError):
            return None
    if data.format == "preference":
        return prompt_and_answer(plan, values)[0]
    if data.format == "chat":
        turns = values.get(data.messages_column)
        if not isinstance(turns, list):
            return None
        before, roles = [], data.roles or {}
        role_key, content_key = data.role_key or "role", data.content_key or "content"
        for turn in turns:
            if not isinstance(turn, dict) or roles.get(turn.get(role_key), turn.get(role_key)) == "assistant":
                break
            before.append(str(turn.get(content_key, "")))
        return "\n".join(before)
    return None


@dataclass
class Overlong:
    """One split's examples over `max_length` and examples whose answers are cut away, row by row."""

    plan: Plan
    counter: object  # quality.TokenCounter
    rows: int = 0
    over: int = 0
    answerless: int = 0
    found: list[Diagnostic] = field(default_factory=list)
    pending: list[tuple[Span, int, str, str | None, str]] = field(default_factory=list)
    counts: dict[str, list[int]] = field(default_factory=dict)  # code -> lines not shown

    def add(self, span: Span, line: int, text: str, values: dict, shown: str) -> None:
        """One row: ``text`` as the model reads it, at ``span`` (line ``line`` of the file shown as ``shown``)."""
        self.rows += 1
        self.pending.append((span, line, text, _prompt(self.plan, values), shown))
        if len(self.pending) >= BATCH:
            self.flush()

    def _report(self, code: str, message: str, span: Span, help: str, line: int, severity: Severity) -> None:
        lines = self.counts.setdefault(code, [])
        lines.append(line)
        if len(lines) <= LIMIT:
            self.found.append(Diagnostic(code, message, span, help, severity))

    def flush(self) -> None:
        if not self.pending:
            return
        data, pending, self.pending = self.plan.data, self.pending, []
        texts = [text for _, _, text, _, _ in pending]
        prompts = [prompt or "" for _, _, _, prompt, _ in pending]
        lengths, prompt_lengths = self.counter.count(texts), self.counter.count(prompts)
        limit = data.max_length
        for (span, line, _, prompt, _), length, before in zip(pending, lengths, prompt_lengths, strict=True):
            if length > limit:
                self.over += 1
                if data.overlong == "error":
                    self._report(
                        "FT620",
                        f"this example has ~{length:,} tokens, more than `max_length = {limit:,}`",
                        span,
                        "shorten or remove it, raise `data.max_length`, or set `data.overlong = drop` or `cut`",
                        line,
                        Severity.ERROR,
                    )
            if prompt is not None and before >= limit and data.overlong == "cut":
                self.answerless += 1
                self._report(
                    "FT621",
                    f"the prompt of this example fills `max_length = {limit:,}` (~{before:,} tokens): every answer "
                    "token is cut away, so it teaches nothing",
                    span,
                    "raise `data.max_length`, or shorten the prompt",
                    line,
                    Severity.WARNING,
                )

    def diagnostics(self, shown: str) -> list[Diagnostic]:
        """The file's findings, with one line counting those not shown; the counters start again."""
        self.flush()
        found, self.found = self.found, []
        for code, lines in sorted(self.counts.items()):
            if len(lines) > LIMIT:
                more = lines[LIMIT:]
                places = ", ".join(map(str, more[:LIMIT])) + (", …" if len(more) > LIMIT else "")
                severity = Severity.ERROR if code == "FT620" else Severity.WARNING
                found.append(
                    Diagnostic(
                        code,
                        f"and {len(more)} more row{'s' * (len(more) != 1)} like this in `{shown}`: lines {places}",
                        severity=severity,
                    )
                )
        self.counts = {}
        return found

    def nothing_learned(self, span: Span) -> Diagnostic | None:
        """FT622: every example of the split lost its answer (cut away), or was dropped for its length."""
        overlong, limit = self.plan.data.overlong, self.plan.data.max_length
        lost = {"cut": self.answerless, "drop": self.over}.get(overlong, 0)
        if not self.rows or lost < self.rows:
            return None
        why = "the prompt fills" if overlong == "cut" else "the example is longer than, and dropped for,"
        return Diagnostic(
            "FT622",
            f"in all {self.rows:,} training examples {why} `max_length = {limit:,}`: no answer token is left to "
            "learn from",
            span,
            "raise `data.max_length` above the prompts' length, or shorten the prompts",
        )
