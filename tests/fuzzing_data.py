"""Fuzz generators beyond the spec text: data files (value types, encodings, sizes) and nesting depth.

- `data_files()` writes a spec of one format and a data file for it, then breaks the file: values of every
  JSON kind where text is read, bytes that are not UTF-8 (Latin-1, UTF-16, NUL), byte-order marks, cut
  lines, ragged CSV rows, very long lines and many rows.
- `nestings()` writes specs with blocks and lists nested (or left open) up to thousands deep, and chains
  of `extends`.

The property is the one `check --data` promises: diagnostics located in the spec or the data file, never an
exception or a hang.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from fuzzing import HARD_LIMIT, Outcome, check_located, time_limit
from hypothesis import strategies as st

from ftspec import api
from ftspec.diagnostics import render_all

# One spec per format, with the data file it reads and the columns of a good row.
FORMATS = {
    "text": ('data {\n  train = "fz.jsonl"\n  format = text\n}\n', "fz.jsonl", {"text": "A row."}),
    "paragraphs": ('data {\n  train = "fz.txt"\n  format = text\n}\n', "fz.txt", None),
    "instruction": (
        'data {\n  train = "fz.jsonl"\n  format = instruction\n  prompt = "q"\n  response = "a"\n}\n',
        "fz.jsonl",
        {"q": "Why?", "a": "Because."},
    ),
    "chat": (
        'data {\n  train = "fz.jsonl"\n  format = chat\n}\n',
        "fz.jsonl",
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]},
    ),
    "classification": (
        'data {\n  train = "fz.csv"\n  format = classification\n  text = "t"\n  label = "l"\n  labels = [x, y]\n}\n',
        "fz.csv",
        None,
    ),
    "json list": ('data {\n  train = "fz.json"\n  format = text\n}\n', "fz.json", {"text": "A row."}),
}
HEAD = 'name = "fz"\nstrategy scratch { }\ntokenizer { train = true }\n'

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=8,
)
ENCODINGS = ("utf-8", "utf-8-sig", "latin-1", "utf-16", "cp1252")


def _rows(rnd: random.Random, good: dict, values: list) -> list:
    rows = []
    for _ in range(rnd.choice([0, 1, 2, 5, 50, 500])):
        row = dict(good)
        if values and rnd.random() < 0.4:
            row[rnd.choice([*good, "extra"])] = rnd.choice(values)
        rows.append(row if not values or rnd.random() < 0.95 else rnd.choice(values))  # now and then not an object
    return rows


def _text_file(rnd: random.Random, kind: str, good: dict | None, values: list) -> str:
    if kind == "classification":
        cells = ["fine", "", "x,y", '"q', "5"]
        lines = ["t,l"] + [f"{rnd.choice(cells)},{rnd.choice('xyz')}" for _ in range(20)]
        return "\n".join(lines) + "\n"
    if kind == "paragraphs":
        return "\n\n".join(rnd.choice(["one", "", "  ", "two\nlines"]) for _ in range(rnd.randrange(30))) + "\n"
    rows = _rows(rnd, good, values)
    if kind == "json list":
        return json.dumps(rows)
    return "".join(json.dumps(row) + "\n" for row in rows)


def _break(rnd: random.Random, data: bytes) -> bytes:
    kind = rnd.randrange(7)
    if kind == 0 and data:  # cut anywhere, perhaps inside a character or a string
        return data[: rnd.randrange(len(data))]
    if kind == 1:  # a byte that is never UTF-8, or a NUL
        where = rnd.randint(0, len(data))
        return data[:where] + rnd.choice([b"\xff", b"\x00", b"\xc3", b"\xe9"]) + data[where:]
    if kind == 2:  # one very long line
        return data + b'{"text": "' + b"w" * rnd.choice([10_000, 300_000]) + b'"}\n'
    if kind == 3:  # Windows line endings, a lone carriage return
        return data.replace(b"\n", rnd.choice([b"\r\n", b"\r"]))
    if kind == 4 and data:  # lines duplicated: many rows
        return data * rnd.choice([2, 10])
    return data


@st.composite
def data_files(draw) -> tuple[str, str, bytes]:
    """(spec text, data file name, data bytes): a spec of one format and a broken data file for it."""
    kind = draw(st.sampled_from(sorted(FORMATS)))
    block, name, good = FORMATS[kind]
    rnd = random.Random(draw(st.integers(0, 2**32 - 1)))
    values = draw(st.lists(json_values, max_size=4))
    text = _text_file(rnd, kind, good, values)
    data = text.encode(rnd.choice(ENCODINGS), errors="replace")
    for _ in range(draw(st.integers(0, 3))):
        data = _break(rnd, data)
    return HEAD + block, name, data


def check_data_file(case: tuple[str, str, bytes], directory: Path) -> Outcome:
    """`check --data` on a spec and its data file: errors located, rendered, no exception, no hang."""
    spec_text, name, data = case
    (directory / name).write_bytes(data)
    path = directory / "fuzzed.ft"
    path.write_text(spec_text, encoding="utf-8")
    with time_limit(HARD_LIMIT):
        result = api.check(path, target="cpu")
        check_located(result, path.name)
        if not result.ok:
            return Outcome(tuple(d.code for d in result.diagnostics if d.is_error))
        report = api.check_data(result.plan)
        lines = data.count(b"\n") + 1
        for diag in report.diagnostics:
            if diag.span is not None and diag.span.path == name:
                assert 1 <= diag.span.line <= lines, f"{name}: {diag.code} at line {diag.span.line} of {lines}"
        render_all(report.diagnostics, result.sources)
        report.table()
        report.to_json(directory)
        errors = tuple(d.code for d in report.diagnostics if d.is_error)
        return Outcome(errors, not errors)


@st.composite
def nestings(draw) -> str:
    """Specs nested deep: blocks, lists or both, closed or left open, inside a valid spec or alone."""
    depth = draw(st.sampled_from([2, 15, 16, 17, 40, 500, 3000, 20_000]))
    opener = draw(st.sampled_from(["a { ", "[", "a { x = [", "strategy lora { "]))
    closer = {"a { ": "}", "[": "]", "a { x = [": "]}", "strategy lora { ": "}"}[opener]
    closed = draw(st.integers(0, depth))
    body = opener * depth + closer * closed
    setting = "x = " if opener == "[" else ""
    prefix = draw(st.sampled_from(["", 'name = "n"\n', 'extends = "tiny-base.ft"\n']))
    return prefix + setting + body + "\n"
