"""The plan's steps follow the rows that train: a split's slice, `max_samples` and `eval_split = 0%` (rowchoice.py)."""

from __future__ import annotations

import json

import pytest

from ftspec import api

ANSWER = "Aim at the base of the stumps."
ROWS = [{"question": f"How do I bowl a yorker, take {i}?", "answer": ANSWER} for i in range(40)]
SPEC = """name = "rows"
base {{ model = "org/model" }}
data {{
  train    = "train.jsonl"
  format   = instruction
  prompt   = "question"
  response = "answer"
{extra}}}
strategy lora {{ }}
train {{ batch_size = 4 }}
hardware {{ gpu = l4 }}
"""


@pytest.mark.parametrize(
    ("extra", "sequences"),
    [
        ("", 36),  # 40 rows, 10% held out
        ("  max_samples = 20\n", 18),
        ('  split = "train[:50%]"\n', 18),
        ('  split = "train[10:]"\n  max_samples = 100\n', 27),
        ("  eval_split = 0%\n", 40),
    ],
)
def test_sequences_per_epoch_count_the_rows_read(tmp_path, extra, sequences):
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in ROWS), encoding="utf-8")
    spec = tmp_path / "rows.ft"
    spec.write_text(SPEC.format(extra=extra), encoding="utf-8")
    plan = api.check(spec).plan
    assert plan.estimates.sequences_per_epoch == sequences
    assert plan.estimates.optimizer_steps == -(-sequences // 4)
