"""The grammar and lowering: every literal kind, spans, comments, and parse round trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftspec import lower, parse
from ftspec.spec.ast import Block, Setting

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((ROOT / "specs").glob("*.ft"))


def document(text: str):
    tree, diags = parse(text, "t.ft")
    assert tree is not None, [d.message for d in diags]
    doc, diags = lower(tree, "t.ft", text)
    assert not diags.has_errors, [d.message for d in diags]
    return doc


def values(text: str) -> dict:
    return {item.key: item.value.plain() for item in document(text).items if isinstance(item, Setting)}


def test_every_kind_of_value():
    got = values(
        'a = "x \\"q\\" \\\\ \\n y"\n'
        "b = 42\nc = -3\nd = 2e-4\ne = 0.5\nf = 10%\ng = 80GiB\nh = 512MiB\n"
        'i = true\nj = false\nk = cosine\nl = [q_proj, "v", 3]\n'
    )
    assert got == {
        "a": 'x "q" \\ \n y',
        "b": 42,
        "c": -3,
        "d": 2e-4,
        "e": 0.5,
        "f": 10.0,
        "g": 80 * 2**30,
        "h": 512 * 2**20,
        "i": True,
        "j": False,
        "k": "cosine",
        "l": ["q_proj", "v", 3],
    }
    kinds = {item.key: item.value.kind for item in document("f = 10%\ng = 1GiB\nk = x\nd = 1e3\n").items}
    assert kinds == {"f": "percent", "g": "size", "k": "ident", "d": "float"}


def test_lists_span_lines_with_comments_and_trailing_commas():
    got = values("targets = [\n  q_proj,  # queries\n  v_proj,\n]\nempty = []\n")
    assert got == {"targets": ["q_proj", "v_proj"], "empty": []}


def test_blocks_labels_and_comments():
    doc = document('# top\nname = "x"  # trailing\n\nstrategy lora {\n  # inside\n  rank = 8\n}\neval { }\n')
    block = doc.items[1]
    assert isinstance(block, Block) and block.name == "strategy" and block.label == "lora"
    assert [s.key for s in block.settings()] == ["rank"]
    assert doc.items[2].items == ()


def test_every_node_keeps_its_span():
    doc = document('name = "x"\ndata {\n  train = "a.jsonl"\n}\n')
    setting = doc.items[1].items[0]
    assert (setting.key_span.line, setting.key_span.column) == (3, 3)
    assert (setting.value.span.line, setting.value.span.column, setting.value.span.end_column) == (3, 11, 20)
    assert (doc.items[1].span.line, doc.items[1].span.end_line) == (2, 4)


def test_empty_and_comment_only_files():
    assert document("").items == ()
    assert document("# nothing here\n\n# at all").items == ()


@pytest.mark.parametrize("text", ['name = "x"\r\ndata {\r\n  train = "a"\r\n}\r\n', "a = 1", "x { a = 1 }"])
def test_line_endings_and_one_line_blocks(text):
    assert document(text).items


def plain(doc) -> list:
    """A document without spans, for comparing two parses."""
    out = []
    for item in doc.items:
        if isinstance(item, Setting):
            out.append((item.key, item.value.kind, item.value.plain()))
        else:
            out.append((item.name, item.label, plain(item)))
    return out


@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_shipped_specs_parse_the_same_without_comments_and_layout(spec):
    text = spec.read_text(encoding="utf-8")
    stripped = "\n".join(
        line.split("#")[0].strip()
        for line in text.splitlines()
        if '"' not in line.split("#")[0] or line.count('"') % 2 == 0
    )
    assert plain(document(text)) == plain(document(stripped))
