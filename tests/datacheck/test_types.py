"""FT610: values of a type the training script cannot read are found by the data check, with their place."""

from __future__ import annotations

import json
from pathlib import Path

from ftspec import api

LORA = 'name = "demo"\nbase { model = "org/model" }\nstrategy lora { }\n'


def faults(tmp_path: Path, monkeypatch, data: str, name: str, text: str) -> list[tuple[str, str, str]]:
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "spec.ft").write_text(LORA + data, encoding="utf-8")
    result = api.check(tmp_path / "spec.ft", target="cpu")
    assert result.ok, [d.message for d in result.diagnostics]
    return [(d.code, str(d.span), d.message) for d in api.check_data(result.plan).diagnostics if d.is_error]


def lines(*objects) -> str:
    return "".join(json.dumps(o) + "\n" for o in objects)


def test_text_that_is_a_number_or_a_list_is_refused(tmp_path, monkeypatch):
    text = lines({"text": "A sentence."}, {"text": 5}, {"text": ["a", "b"]}, {"text": {"a": 1}}, {"text": True})
    assert faults(tmp_path, monkeypatch, 'data { train = "t.jsonl" }\n', "t.jsonl", text) == [
        ("FT610", "t.jsonl:2:10", "the value of `text` is a number, not a string"),
        ("FT610", "t.jsonl:3:10", "the value of `text` is a list, not a string"),
        ("FT610", "t.jsonl:4:10", "the value of `text` is an object, not a string"),
        ("FT610", "t.jsonl:5:10", "the value of `text` is true or false, not a string"),
    ]


def test_instruction_columns_are_read_as_text(tmp_path, monkeypatch):
    data = 'data {\n  train = "qa.jsonl"\n  format = instruction\n  prompt = "q"\n  response = "a"\n}\n'
    text = lines({"q": "Why?", "a": "Because."}, {"q": "How many?", "a": 42}, {"q": ["x"], "a": "y"})
    assert [fault[:2] for fault in faults(tmp_path, monkeypatch, data, "qa.jsonl", text)] == [
        ("FT610", "qa.jsonl:2:25"),
        ("FT610", "qa.jsonl:3:7"),
    ]


def test_a_label_may_be_text_or_a_whole_number_but_not_a_list(tmp_path, monkeypatch):
    data = 'data {\n  train = "c.jsonl"\n  format = classification\n  text = "t"\n  label = "l"\n'
    data += '  labels = ["0", "1"]\n}\n'
    text = lines({"t": "good", "l": 1}, {"t": "bad", "l": "0"}, {"t": "odd", "l": [1]}, {"t": "half", "l": 0.5})
    assert faults(tmp_path, monkeypatch, data, "c.jsonl", text) == [
        ("FT610", "c.jsonl:3:19", "the label in `l` is a list, not a string or a whole number"),
        ("FT610", "c.jsonl:4:20", "the label in `l` is a number, not a string or a whole number"),
    ]


def test_csv_values_are_always_text(tmp_path, monkeypatch):
    data = 'data {\n  train = "c.csv"\n  format = classification\n  text = "t"\n  label = "l"\n  labels = [a, b]\n}\n'
    assert faults(tmp_path, monkeypatch, data, "c.csv", "t,l\n5,a\n[1],b\n") == []
