"""Read the rows of a data file the way the generated script will, each with the line it starts on.

JSON Lines, a .json list of objects, CSV with a header, plain text (paragraphs
separated by blank lines, as `sample_by="paragraph"` reads them) and Parquet.
Only the standard library is used, pyarrow only for Parquet. Faults in the file
itself (bad UTF-8, malformed JSON, ragged CSV rows) go to a ``Faults`` sink and
the reader carries on, so one pass finds every kind of problem.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..diagnostics import Span


class Faults(Protocol):
    def add(self, code: str, message: str, span: Span, help: str | None = None, line: int = 0) -> None: ...


@dataclass
class Row:
    """One example: its values by column, the line it starts on, and that line's text (to point at a value)."""

    line: int
    values: dict[str, Any]
    raw: str = ""
    header: tuple[str, ...] | None = None  # CSV: the columns, in the order the line holds them
    kind: str = "json"  # json, csv, text or parquet: how a value is found on the line


@dataclass(frozen=True)
class DataFile:
    """A data file being read: where it is, how diagnostics show it, and the spec setting that named it."""

    path: Path
    shown: str
    setting: Span
    loader: str = "json"

    def span(self, line: int, start: int = 1, end: int | None = None) -> Span:
        return Span(self.shown, line, start, line, end if end is not None else start + 1)

    def line_span(self, line: int, text: str) -> Span:
        """The whole of one line."""
        return Span(self.shown, line, 1, line, max(2, len(text) + 1))

    def at(self, row: Row, column: str | None = None) -> Span:
        """Where to point for a row: its ``column``'s value, else its line; a Parquet row has no line to show."""
        if self.loader == "parquet":
            return self.setting
        found = value_columns(row, column) if column is not None else None
        return self.span(row.line, *found) if found else self.line_span(row.line, row.raw.rstrip("\n"))

    def where(self, row: Row) -> str:
        """What a message adds to say which row it means, when its span cannot show it."""
        return f" (row {row.line} of `{self.path.name}`)" if self.loader == "parquet" else ""


def decoded_lines(data: DataFile, faults: Faults) -> Iterator[tuple[int, str]]:
    """Each line of the file (ending in ``\\n`` but the last), decoded; a line with bad UTF-8 is reported."""
    with data.path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]  # a byte-order mark is not part of the first column's name
            if raw.endswith(b"\r\n"):
                raw = raw[:-2] + b"\n"
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError as err:
                column = len(raw[: err.start].decode("utf-8")) + 1
                faults.add(
                    "FT601",
                    f"byte 0x{raw[err.start]:02x} at byte {err.start + 1} of this line is not UTF-8",
                    data.span(number, column),
                    "save the file as UTF-8; the training script cannot read it otherwise",
                    number,
                )
                yield number, raw.decode("utf-8", errors="replace")


JSONL_HELP = 'each line of a JSON Lines file is one complete object, such as {"text": "..."}'
LIST_HELP = 'a .json file holds one list of objects, such as [{"text": "..."}, {"text": "..."}]'


def _json_fault(
    data: DataFile, number: int, text: str, err: json.JSONDecodeError, faults: Faults, help: str = JSONL_HELP
) -> None:
    line = text.rstrip("\n")
    column = err.colno if err.lineno == 1 else len(line) + 1
    if err.msg == "Extra data":
        message, end = "text after the end of the JSON object", len(line) + 1
    elif err.msg.startswith("Unterminated string"):
        message, end = "the row ends inside a string: is the line cut short?", len(line) + 1
    elif err.msg == "Unterminated list":
        message, end = "the file ends before the list's closing `]`: is it cut short?", column + 1
    else:
        reason = err.msg.removesuffix(" at")  # "Invalid control character at": the caret says where
        message, end = f"malformed JSON: {reason[0].lower()}{reason[1:]}", column + 1
    faults.add(
        "FT602",
        message,
        data.span(number, column, max(end, column + 1)),
        help,
        number,
    )


def _not_object(data: DataFile, number: int, text: str, value: Any, faults: Faults, column: int = 1) -> None:
    kind = {list: "a list", str: "a string", bool: "true or false", type(None): "null"}.get(type(value), "a number")
    line = text.rstrip("\n")
    faults.add(
        "FT602",
        f"this row is {kind}, not a JSON object",
        data.span(number, column, max(column + 1, len(line.rstrip(", ")) + 1)),
        'each row is an object whose keys are the columns, such as {"text": "..."}',
        number,
    )


def _json_error(text: str) -> json.JSONDecodeError:
    """The error of a bad row without its newline, which would read as a control character in a cut string."""
    try:
        json.loads(text.rstrip("\n"))
    except json.JSONDecodeError as err:
        return err
    raise AssertionError("a row that failed to parse parses")


def json_lines(data: DataFile, faults: Faults) -> Iterator[Row]:
    """JSON Lines: one object per line; blank lines are skipped as the loader skips them."""
    for number, text in decoded_lines(data, faults):
        if not text or text.isspace():
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            _json_fault(data, number, text, _json_error(text), faults)
            continue
        if not isinstance(value, dict):
            _not_object(data, number, text, value, faults)
            continue
        yield Row(number, value, text)  # not stripped: a copy of a 50 MB line costs 50 MB


def json_list(data: DataFile, faults: Faults) -> Iterator[Row]:
    """A .json file holding one list of objects; each element is located on the line it starts on."""
    text = "".join(line for _, line in decoded_lines(data, faults))
    lines = text.split("\n")
    decoder = json.JSONDecoder()
    position, number, counted = text.index("[") + 1, 1, 0

    def line_at(index: int) -> int:
        nonlocal number, counted
        number += text.count("\n", counted, index)  # positions only grow, so counting stays linear
        counted = index
        return number

    def fault(message: str, index: int) -> None:
        line = line_at(index)
        column = index - (text.rfind("\n", 0, index) + 1) + 1
        error = json.JSONDecodeError(message, lines[line - 1], column - 1)
        _json_fault(data, line, lines[line - 1], error, faults, LIST_HELP)

    position = _skip(text, position)
    while position < len(text) and text[position] != "]":
        start = position
        try:
            value, position = decoder.raw_decode(text, start)
        except json.JSONDecodeError as err:
            # The rest of the list cannot be found without the end of this element.
            return fault(err.msg if err.pos < len(text) else "Unterminated list", err.pos)
        line = line_at(start)
        if not isinstance(value, dict):
            column = start - text.rfind("\n", 0, start)  # 1-based: the newline before sits at column 0
            _not_object(data, line, lines[line - 1], value, faults, column)
        else:
            yield Row(line, value, lines[line - 1])
        position = _skip(text, position)
        if position < len(text) and text[position] == ",":
            position = _skip(text, position + 1)
        elif position < len(text) and text[position] != "]":
            return fault("Expecting ',' delimiter", position)
    if position >= len(text):
        fault("Unterminated list", len(text))


def _skip(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def is_json_list(path: Path) -> bool:
    """Whether a .json file holds one list rather than JSON Lines (the loader accepts both)."""
    with path.open("rb") as handle:
        return handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"[")


def csv_rows(data: DataFile, faults: Faults) -> Iterator[Row]:
    """CSV with a header line; a quoted field may span lines, so a row is located on its first line."""
    lines = decoded_lines(data, faults)
    first: dict[str, tuple[int, str]] = {}

    def remembered() -> Iterator[str]:
        for number, text in lines:
            first.setdefault("next", (number, text))
            yield text

    previous = csv.field_size_limit(2**31 - 1)  # a long text is not a fault of the data: no limit (C long)
    try:
        reader = csv.reader(remembered())
        header: tuple[str, ...] | None = None
        while True:
            first.clear()
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                number, text = first.get("next", (reader.line_num, ""))
                faults.add(
                    "FT306", f"cannot read this CSV row: {err}", data.line_span(number, text.rstrip("\n")), None, number
                )
                continue
            number, text = first.get("next", (reader.line_num, ""))
            text = text.rstrip("\n")
            if not fields:
                continue  # blank lines are skipped, as pandas skips them
            if header is None:
                header = tuple(fields)
                continue
            if len(fields) != len(header):
                faults.add(
                    "FT603",
                    f"this row has {len(fields)} field{'s' * (len(fields) != 1)} but the header has {len(header)}",
                    data.line_span(number, text),
                    'quote a field that holds commas or line breaks, such as "one, two"'
                    if len(fields) > len(header)
                    else f"give every row a value for each column: {', '.join(header)}",
                    number,
                )
                continue
            yield Row(number, dict(zip(header, fields, strict=True)), text, header, "csv")
    finally:
        csv.field_size_limit(previous)


def paragraphs(data: DataFile, faults: Faults) -> Iterator[Row]:
    """Plain text: examples separated by blank lines, exactly as `text.split("\\n\\n")` cuts them."""
    part: list[str] = []
    start = 1
    for number, text in decoded_lines(data, faults):
        if text == "\n" and part and part[-1].endswith("\n"):
            paragraph = "".join(part)[:-1]  # the newline before this blank line is part of the separator
            if paragraph:
                yield _paragraph(start, paragraph)
            part = []
            continue
        if not part:
            start = number
        part.append(text)
    if part and "".join(part):
        yield _paragraph(start, "".join(part))


def _paragraph(start: int, text: str) -> Row:
    # Point at the paragraph's first line with text, not at the blank lines that may open it.
    skipped = len(text) - len(text.lstrip("\n"))
    first = text.lstrip("\n").split("\n", 1)[0]
    return Row(start + skipped if text.strip() else start, {"text": text}, first, kind="text")


def parquet_rows(data: DataFile, faults: Faults) -> Iterator[Row]:
    """Parquet, through pyarrow (imported only here); a row is numbered, as it has no line."""
    try:
        import pyarrow.parquet as pq

        table = pq.ParquetFile(data.path)
        number = 0
        for batch in table.iter_batches(batch_size=1024):
            for values in batch.to_pylist():
                number += 1
                yield Row(number, values, kind="parquet")
    except ImportError:
        faults.add("FT306", f"reading `{data.path.name}` needs pyarrow", data.setting, "pip install pyarrow")
    except Exception as err:  # pyarrow raises its own error types for a damaged file
        faults.add("FT306", f"pyarrow cannot read `{data.path.name}`: {err}", data.setting)


def read_rows(data: DataFile, loader: str, faults: Faults) -> Iterator[Row]:
    """Every row of one data file, for the plan's loader (json, csv, text or parquet)."""
    if loader == "csv":
        return csv_rows(data, faults)
    if loader == "text":
        return paragraphs(data, faults)
    if loader == "parquet":
        return parquet_rows(data, faults)
    if data.path.suffix.lower() == ".json" and is_json_list(data.path):
        return json_list(data, faults)
    return json_lines(data, faults)


def value_columns(row: Row, column: str) -> tuple[int, int] | None:
    """Columns (1-based, end exclusive) of ``column``'s value on the row's first line, when it can be found."""
    if not row.raw or row.kind in ("text", "parquet"):
        return None
    if row.header is not None:
        return _csv_field(row.raw, row.header.index(column)) if column in row.header else None
    found = re.search(r'(?<!\\)"' + re.escape(column) + r'"\s*:\s*', row.raw)
    if found is None:
        return None
    try:
        _, end = json.JSONDecoder().raw_decode(row.raw, found.end())
    except json.JSONDecodeError:
        end = len(row.raw)
    return found.end() + 1, end + 1


def _csv_field(line: str, index: int) -> tuple[int, int] | None:
    """Where the ``index``-th field of a one-line CSV record lies, quotes included."""
    start, quoted, field = 0, False, 0
    for position, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            if field == index:
                return start + 1, position + 1
            field, start = field + 1, position + 1
    return (start + 1, len(line) + 1) if field == index and not quoted else None
