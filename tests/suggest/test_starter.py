"""`ftspec new`: a starter spec for a CSV and a JSONL file of each format, which checks cleanly."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest
from conftest import ftspec_command

from ftspec import api
from ftspec.spec.fmt import format_source
from ftspec.suggest.starter import StarterError, detect, starter

ROWS = 160  # enough examples that no FT504 warns about a tiny training set
WORDS = "the bowler runs in and delivers a fast ball that swings late towards the batter".split()


def _sentence(i: int, length: int = 12) -> str:
    return " ".join(WORDS[(i + j) % len(WORDS)] for j in range(length)) + f" {i}."


def _records(fmt: str) -> list[dict]:
    if fmt == "text":
        return [{"text": _sentence(i, 40)} for i in range(ROWS)]
    if fmt == "instruction":
        return [{"question": f"How do I play shot {i}?", "answer": _sentence(i)} for i in range(ROWS)]
    if fmt == "chat":
        return [
            {"messages": [{"role": "user", "content": f"Tip {i}?"}, {"role": "assistant", "content": _sentence(i)}]}
            for i in range(ROWS)
        ]
    return [{"comment": _sentence(i), "sentiment": ("negative", "neutral", "positive")[i % 3]} for i in range(ROWS)]


def _write(directory: Path, fmt: str, suffix: str) -> Path:
    path = directory / f"{fmt}-data{suffix}"
    records = _records(fmt)
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    else:
        with path.open("w", newline="", encoding="utf-8") as out:
            rows = [{k: json.dumps(v) if isinstance(v, list) else v for k, v in r.items()} for r in records]
            writer = csv.DictWriter(out, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return path


CASES = [(fmt, suffix) for fmt in ("text", "instruction", "chat", "classification") for suffix in (".csv", ".jsonl")]
COLUMNS = {
    "text": {"text": "text"},
    "instruction": {"prompt": "question", "response": "answer"},
    "chat": {"messages": "messages"},
    "classification": {"text": "comment", "label": "sentiment"},
}


@pytest.mark.parametrize(("fmt", "suffix"), CASES)
def test_new_spec_checks_cleanly(tmp_path: Path, fmt: str, suffix: str):
    (tmp_path / "data").mkdir()
    data = _write(tmp_path / "data", fmt, suffix)
    if fmt == "chat" and suffix == ".csv":
        # A CSV cell is text, not a list of messages: the training script could not read it as chat.
        with pytest.raises(StarterError, match="chat data must be JSON"):
            starter(data, tmp_path / "starter.ft")
        return
    spec = tmp_path / "specs" / "starter.ft"
    spec.parent.mkdir()
    text, found, base, strategy = starter(data, spec, "sports/cricket")
    assert found.format == fmt and found.columns == COLUMNS[fmt]
    assert format_source(text, str(spec))[0] == text  # the canonical layout
    settings = [line for line in text.splitlines() if "=" in line and not line.lstrip().startswith("#")]
    assert all("#" in line for line in settings)  # a comment on each setting
    spec.write_text(text, encoding="utf-8")
    result = api.check(spec)
    assert [(d.code, d.message) for d in result.diagnostics] == []
    assert result.plan.data.format == fmt and result.plan.base.model == base


def test_classification_labels_and_text_from_plain_text(tmp_path: Path):
    data = _write(tmp_path, "classification", ".jsonl")
    assert detect(data).labels == ["negative", "neutral", "positive"]
    notes = tmp_path / "notes.txt"
    notes.write_text("\n\n".join(_sentence(i, 30) for i in range(400)), encoding="utf-8")
    assert detect(notes).format == "text"


def test_cli_writes_and_checks(tmp_path: Path):
    data = _write(tmp_path, "instruction", ".csv")
    spec = tmp_path / "coach.ft"
    done = subprocess.run(
        ftspec_command("new", str(data), "-o", str(spec), "--domain", "healthcare", "--target", "l4"),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert f"{spec}: ok" in done.stdout
    assert "gpu = l4" in spec.read_text(encoding="utf-8").replace("  ", " ")
    again = subprocess.run(ftspec_command("new", str(data), "-o", str(spec)), capture_output=True, text=True)
    assert again.returncode == 2 and "exists" in again.stderr


def test_unknown_columns_are_a_usage_error(tmp_path: Path):
    data = tmp_path / "odd.jsonl"
    data.write_text('{"a": 1, "b": 2}\n', encoding="utf-8")
    with pytest.raises(StarterError, match="cannot tell the format"):
        detect(data)
    done = subprocess.run(
        ftspec_command("new", str(data), "-o", str(tmp_path / "x.ft")), capture_output=True, text=True
    )
    assert done.returncode == 2 and "cannot tell the format" in done.stderr
    assert not (tmp_path / "x.ft").exists()
