"""Check the data a plan names before any training starts: every row of every file, in one pass.

`scan_data(plan)` reads the files as the generated script will (see datarows)
and reports what would crash or silently spoil a run: bad UTF-8, malformed
rows, missing columns, unknown labels, empty texts, broken conversations. A
fault in a row is located in the data file; a spec-level one (a column the file
lacks) at the spec's setting, naming the file. Each kind of fault is shown at
most LIMIT times per file, then counted. The quality report comes along.
"""

from __future__ import annotations

import json
import math
import string
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..diagnostics import Diagnostic, Span, did_you_mean, one_of
from ..planner.data import TEMPLATES
from ..planner.plan import Plan
from ..spec.loader import display_path
from . import preference
from .overlong import Overlong
from .quality import QualityReport, Tally, TokenCounter, quality_warnings, tokenizer_file
from .rows import DataFile, Row, read_rows
from .types import type_fault

LIMIT = 5  # faults of one kind shown per file; the rest are counted
ROLES = ("system", "user", "assistant", "tool")
MISSING = object()
CHAT_HELP = 'write the messages as [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]'


@dataclass
class DataReport:
    """Every data diagnostic of a plan, and the quality report (None when the data is on the hub)."""

    diagnostics: list[Diagnostic]
    quality: QualityReport | None
    note: str | None = None

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.diagnostics)

    def table(self) -> str:
        """The quality table, or why there is none."""
        return self.quality.table() if self.quality is not None else f"data quality: {self.note}"

    def to_json(self, start: Path | None = None) -> str:
        """The quality report as JSON, paths relative to ``start`` (the run directory)."""
        if self.quality is None:
            return json.dumps({"note": self.note}, indent=2) + "\n"
        return self.quality.to_json(start)


class FileFaults:
    """The faults found in one data file: each code shown at most LIMIT times, then one line counts the rest."""

    def __init__(self, shown: str, unit: str):
        self.shown, self.unit = shown, unit
        self.items: list[Diagnostic] = []
        self.counts: Counter[str] = Counter()
        self.hidden: dict[str, list[int]] = {}

    def add(self, code: str, message: str, span: Span, help: str | None = None, line: int = 0) -> None:
        self.counts[code] += 1
        if self.counts[code] <= LIMIT:
            self.items.append(Diagnostic(code, message, span, help))
        else:
            hidden = self.hidden.setdefault(code, [])
            if len(hidden) < LIMIT:
                hidden.append(line)

    def diagnostics(self) -> list[Diagnostic]:
        found, shown = [], Counter()
        for item in self.items:
            found.append(item)
            shown[item.code] += 1
            more = self.counts[item.code] - LIMIT
            if shown[item.code] == LIMIT and more > 0:
                places = ", ".join(map(str, self.hidden[item.code])) + (", …" if more > LIMIT else "")
                rows, where = ("row", self.unit) if more == 1 else ("rows", f"{self.unit}s")
                message = f"and {more} more {rows} like this in `{self.shown}`: {where} {places}"
                found.append(Diagnostic(item.code, message))
        return found


@dataclass(frozen=True)
class Need:
    """A column the format reads: the setting that names it, and whether an empty value is a fault."""

    column: str
    key: str
    empty: bool = True
    code: str = "FT605"


@dataclass
class Use:
    """How a needed column showed up in one file."""

    present: bool = False
    empty: int = 0
    missing: int = 0
    first: tuple[Span, str] | None = None
    others: list[int] = field(default_factory=list)  # lines (or rows) of the next few empty ones


def columns_read(plan: Plan) -> list[Need]:
    """The columns the data format reads, each with the `data` setting that names it."""
    data = plan.data
    if data.format == "instruction":
        custom = plan.spec.data.template not in (None, *TEMPLATES)
        names = [name for _, name, _, _ in string.Formatter().parse(data.template or "") if name]
        # A custom template may hold columns that are often empty (alpaca's `input`): only the prompt must have text.
        needs = [
            Need(name, "template" if custom else "prompt", name == data.prompt_column, "FT609" if custom else "FT605")
            for name in dict.fromkeys(names)
        ]
        return [*needs, Need(data.response_column, "response")]
    if data.format == "chat":
        return [Need(data.messages_column, "messages")]
    if data.format == "classification":
        return [Need(data.text_column, "text"), Need(data.label_column, "label")]
    if data.format == "preference":
        return [Need(column, key, empty) for column, key, empty in preference.needs(plan)]
    return [Need(data.text_column, "text")]


def _text(value: Any) -> str:
    return "" if value is None or value is MISSING else value if isinstance(value, str) else str(value)


def _is_empty(value: Any) -> bool:
    return value is MISSING or value is None or value == [] or (isinstance(value, str) and not value.strip())


class _Cells(dict):
    def __missing__(self, key: str) -> str:
        return ""


def example(plan: Plan, values: dict[str, Any]) -> tuple[str, str]:
    """A row as the model reads it (the templated prompt and response, the turns, the text), and its own words."""
    data = plan.data
    if data.format == "instruction":
        cells = _Cells({key: _text(value) for key, value in values.items()})
        try:
            prompt = data.template.format_map(cells)
        except (ValueError, KeyError, IndexError, AttributeError):
            prompt = ""
        names = [name for _, name, _, _ in string.Formatter().parse(data.template or "") if name]
        response = _text(values.get(data.response_column))
        return prompt + response, "\n".join([*(cells[name] for name in names), response])
    if data.format == "chat":
        turns = values.get(data.messages_column)
        turns = turns if isinstance(turns, list) else []
        key = data.content_key or "content"
        text = "\n".join(_text(turn.get(key)) for turn in turns if isinstance(turn, dict))
        return text, text
    if data.format == "preference":
        prompt, answer = preference.prompt_and_answer(plan, values)
        return prompt + answer, prompt + "\n" + answer
    text = _text(values.get(data.text_column))
    return text, text


def _chat_fault(messages: Any, keys: tuple[str, str] = ("role", "content"), roles=None) -> tuple[str, str, str] | None:
    """What is wrong with one row's conversation, as (message, help, the JSON text to point at), or None.

    ``keys`` name a message's role and text; ``roles`` maps the data's role names to the template's."""
    roles = roles or {role: role for role in ROLES}
    role_key, content_key = keys
    names = tuple(dict.fromkeys([*roles, "tool"]))
    shape = f"{{{role_key}, {content_key}}}"
    if not isinstance(messages, list):
        kind = "a string" if isinstance(messages, str) else f"a {type(messages).__name__}"
        return f"the conversation is {kind}, not a list of messages", CHAT_HELP, ""
    for number, message in enumerate(messages, start=1):
        if not isinstance(message, dict) or not all(isinstance(message.get(k), str) for k in keys):
            return f"message {number} is not a {shape} object with text in both", CHAT_HELP, ""
        if message[role_key] not in names:
            hint = did_you_mean(message[role_key], names)
            help = f"{hint + ' ' if hint else ''}the roles are {one_of(names)}"
            return f"message {number} has the unknown role `{message[role_key]}`", help, json.dumps(message[role_key])
    if not any(roles.get(message[role_key]) == "assistant" for message in messages):
        assistant = next(name for name, role in roles.items() if role == "assistant")
        return (
            f"the conversation has no `{assistant}` turn, so nothing in it is learned",
            ("add the assistant's answer, or remove the row"),
            "",
        )
    return None


def _within(data: DataFile, row: Row, column: str, needle: str) -> Span:
    """The span of ``needle`` inside ``column``'s value on the row's line, else the value's."""
    span = data.at(row, column)
    found = row.raw.find(needle, span.column - 1, span.end_column - 1) if needle and span.path == data.shown else -1
    return data.span(row.line, found + 1, found + 1 + len(needle)) if found >= 0 else span


def _check_row(plan: Plan, data: DataFile, row: Row, needs: list[Need], uses: dict[str, Use], faults) -> None:
    labels = plan.data.labels
    for need in needs:
        value, use = row.values.get(need.column, MISSING), uses[need.column]
        use.present = use.present or value is not MISSING
        # Preference rows hold conversations and KTO's true/false labels: preference.row_fault checks them.
        typed = value is not MISSING and row.kind in ("json", "parquet") and plan.data.format != "preference"
        fault = type_fault(need.key, need.column, value) if typed else None
        if fault is not None:
            faults.add("FT610", fault[0] + data.where(row), data.at(row, need.column), fault[1], row.line)
            continue
        if need.key in ("chosen", "rejected") and isinstance(value, list) and not _is_empty(value):
            value = "" if not any(str(m.get("content", "")).strip() for m in value if isinstance(m, dict)) else value
        if need.key == "messages" and not _is_empty(value):
            fault = _chat_fault(value, (plan.data.role_key, plan.data.content_key), plan.data.roles)
            if fault is not None:
                span = _within(data, row, need.column, fault[2])
                faults.add("FT608", fault[0] + data.where(row), span, fault[1], row.line)
                continue
            roles, role_key, content_key = plan.data.roles or {}, plan.data.role_key, plan.data.content_key
            if all(not m[content_key].strip() for m in value if roles.get(m[role_key], m[role_key]) == "assistant"):
                value = ""  # every answer is blank: as empty as no conversation at all
        if need.empty and _is_empty(value):
            use.empty += 1
            use.missing += value is MISSING or value is None
            if use.first is None:
                use.first = (data.at(row, need.column if value is not MISSING else None), data.where(row))
            elif len(use.others) < LIMIT:
                use.others.append(row.line)
        elif need.key == "label" and labels is not None and _text(value) not in labels:
            label = _text(value)
            hint = did_you_mean(label, labels)
            faults.add(
                "FT606",
                f"label `{label}` is not one of `data.labels`{data.where(row)}",
                data.at(row, need.column),
                f"{hint + ' ' if hint else ''}the labels are {one_of(labels)}; fix the row or add the label",
                row.line,
            )


def _preference_row(plan: Plan, data: DataFile, row: Row, faults) -> None:
    found = preference.row_fault(plan, row.values)
    if found is not None:
        code, message, help, column = found
        faults.add(code, message + data.where(row), data.at(row, column), help, row.line)


def _columns_help(need: Need, columns: list[str]) -> str:
    hint = did_you_mean(need.column, columns)
    listed = one_of(columns[:12]) + (", ..." if len(columns) > 12 else "")
    fix = "use one of them in the template" if need.code == "FT609" else f"set `data.{need.key}` to one of them"
    return f"{hint + ' ' if hint else ''}the file's columns are {listed}; {fix}"


def _places(data: DataFile, use: Use) -> str:
    unit = "row" if data.loader == "parquet" else "line"
    more = ", …" if use.empty - 1 > len(use.others) else ""
    return f"{unit}{'s' * (use.empty > 2)} " + ", ".join(map(str, use.others)) + more


def _file_level(plan: Plan, data: DataFile, needs, uses, columns: list[str], rows: int, faulty: bool) -> list:
    """Spec-level findings of one file: no rows, missing columns and placeholders, empty texts."""
    sources, found = plan.inputs.sources, []
    if rows == 0:
        if not faulty:
            found.append(Diagnostic("FT604", f"`{data.shown}` has no rows", data.setting, EMPTY_HELP[data.loader]))
        return found
    for need in needs:
        use = uses[need.column]
        if not use.present:
            if need.code == "FT609":
                message = f"template placeholder `{{{need.column}}}` names no column of `{data.shown}`"
            else:
                message = f"there is no column `{need.column}` in `{data.shown}`"
            help = _columns_help(need, columns)
            found.append(Diagnostic(need.code, message, sources.at("data", need.key), help))
        elif use.empty:
            span, where = use.first
            state = "empty or missing" if use.missing else "empty"
            rows_text = "this row" + (f" and {use.empty - 1:,} more ({_places(data, use)})" if use.empty > 1 else "")
            help = EMPTY_COLUMN_HELP.get(need.key, "fill it in, or remove the rows: an empty text teaches nothing")
            found.append(Diagnostic("FT607", f"`{need.column}` is {state} in {rows_text}{where}", span, help))
    return found


EMPTY_HELP = {
    "json": 'a JSON Lines file holds one object per line, such as {"text": "..."}',
    "csv": "a CSV file needs a header line and at least one row under it",
    "text": "a text file needs at least one paragraph; blank lines separate paragraphs",
    "parquet": "the file holds a schema but no rows",
}
EMPTY_COLUMN_HELP = {
    "response": "fill in the answers, or remove the rows: an example without an answer teaches nothing",
    "label": "give every row one of the labels in `data.labels`",
    "messages": "remove the rows, or give each conversation an assistant answer with text",
}


def check_file(plan: Plan, data: DataFile, tally: Tally) -> list[Diagnostic]:
    """Read one data file: its faults, its spec-level findings, and its rows added to ``tally``."""
    faults = FileFaults(data.shown, "row" if data.loader == "parquet" else "line")
    needs = columns_read(plan)
    uses = {need.column: Use() for need in needs}
    columns: dict[str, None] = {}
    rows = 0
    label_column = plan.data.label_column
    try:
        for row in read_rows(data, plan.data.loader, faults):
            rows += 1
            columns.update(dict.fromkeys(row.values))
            _check_row(plan, data, row, needs, uses, faults)
            if plan.data.format == "preference":
                _preference_row(plan, data, row, faults)
            label = _text(row.values.get(label_column)) if label_column in row.values else None
            text, words = example(plan, row.values)
            tally.add(text, words, (data.path, row.line), label)
            tally.overlong.add(data.at(row), row.line, text, row.values, data.shown)
    except OSError as err:
        faults.add("FT306", f"cannot read `{data.shown}`: {err.strerror}", data.setting)
    found = faults.diagnostics() + tally.overlong.diagnostics(data.shown)
    spec_level = _file_level(plan, data, needs, uses, list(columns), rows, bool(found))
    return [d for d in spec_level if d.code != "FT607"] + found + [d for d in spec_level if d.code == "FT607"]


def _read_split(plan: Plan, key: str, files, tally: Tally) -> list[Diagnostic]:
    setting = plan.inputs.sources.at("data", key)
    found: list[Diagnostic] = []
    for path in files:
        found += check_file(plan, DataFile(path, display_path(path), setting, plan.data.loader), tally)
    return found


def scan_data(plan: Plan) -> DataReport:
    """Read every row of the plan's data files: located faults, quality warnings and the quality report."""
    data = plan.data
    if data.loader == "hub":
        return DataReport([], None, f"`hub:{data.hub}` is read when the run starts; it is not checked here")
    counter = TokenCounter(tokenizer_file(plan), extra=1 if data.format in ("text", "instruction") else 0)
    train = Tally(list(data.train), counter, data.max_length, overlong=Overlong(plan, counter))
    found = _read_split(plan, "train", data.train, train)
    train_report = train.finish(data.labels)
    nothing = train.overlong.nothing_learned(plan.inputs.sources.at("data", "max_length"))
    found += [nothing] if nothing is not None and not any(d.is_error for d in found) else []
    eval_report = None
    if data.eval:
        held = Tally(list(data.eval), counter, data.max_length, train=train.seen, overlong=Overlong(plan, counter))
        found += _read_split(plan, "eval", data.eval, held)
        eval_report = held.finish(data.labels)
    notes = []
    if counter.estimated:
        notes.append(_why_estimated(plan))
    quality = QualityReport(
        name=plan.name,
        format=data.format,
        max_length=data.max_length,
        packing=data.packing,
        tokenizer=counter.path,
        train=train_report,
        eval=eval_report,
        eval_split=data.eval_split,
        held_out=math.ceil(data.eval_split * train_report.rows) if data.eval_split is not None else None,
        notes=notes,
        overlong=data.overlong,
        unit="paragraphs" if data.loader == "text" else "examples",
    )
    if not any(d.is_error for d in found):
        found += quality_warnings(quality, plan.inputs.sources.at("data", "train"))
    return DataReport(found, quality)


def _why_estimated(plan: Plan) -> str:
    if plan.tokenizer.source == "train":
        return "tokens are estimated: the tokenizer is learned from the data when the run starts"
    if plan.base.source == "spec":
        return f"tokens are estimated: the base `{plan.base.spec}` is not built yet"
    return "tokens are estimated: the base model's tokenizer.json is not on this machine"
