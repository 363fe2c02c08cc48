"""Several data sources mixed by weight: labelled data blocks validated, composed, planned, checked and diffed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from ftspec import api
from ftspec.planner.mixture import draws
from ftspec.spec.fmt import format_source

QA = [{"question": f"How do I bowl a yorker, take {i}?", "answer": "Aim at the base of the stumps."} for i in range(40)]
TALK = [
    {"messages": [{"role": "user", "content": f"Hello {i}"}, {"role": "assistant", "content": "Play straight."}]}
    for i in range(20)
]
SPEC = """name = "mixed"
base { model = "org/model" }
data qa {
  train      = "qa.jsonl"
  format     = instruction
  prompt     = "question"
  response   = "answer"
  eval_split = 10%
  max_length = 64
  weight     = 3
}
data talk {
  train         = "talk.jsonl"
  format        = chat
  chat_template = chatml
  eval_split    = 0%
  weight        = 1
}
strategy lora { }
train {
  epochs     = 2
  batch_size = 4
}
"""


def project(tmp_path: Path, text: str = SPEC) -> Path:
    (tmp_path / "qa.jsonl").write_text("".join(json.dumps(row) + "\n" for row in QA))
    (tmp_path / "talk.jsonl").write_text("".join(json.dumps(row) + "\n" for row in TALK))
    path = tmp_path / "mixed.ft"
    path.write_text(text)
    return path


def test_draws_add_up_and_round_the_largest_remainders():
    assert draws(10, [0.75, 0.25]) == [8, 2]
    assert draws(7, [0.5, 0.5]) == [4, 3]
    assert draws(100, [1, 1, 1]) == [34, 33, 33]
    assert sum(draws(1001, [0.6, 0.2, 0.2])) == 1001


def test_each_source_keeps_its_own_format_and_the_run_wide_settings_are_shared(tmp_path):
    result = api.check(project(tmp_path), target="cpu")
    assert result.ok, [(d.code, d.message) for d in result.diagnostics]
    spec, plan = result.loaded.spec, result.plan
    assert list(spec.mixture) == ["qa", "talk"]
    assert spec.mixture["talk"].max_length == 64  # set in `qa`, one for the whole mixture
    qa, talk = plan.mixture.sources
    assert (qa.data.format, talk.data.format) == ("instruction", "chat")
    assert (qa.share, talk.share) == (0.75, 0.25)
    assert qa.data.template == "### Question:\n{question}\n\n### Answer:\n" and talk.data.chat_template
    assert qa.data.held_out and not talk.data.held_out and plan.data.held_out
    # FT511 (no held-out rows) is not said of a mixture in which another source holds rows out.
    assert "FT511" not in [d.code for d in plan.diagnostics]


def test_the_plan_counts_steps_from_the_mixed_epoch(tmp_path):
    plan = api.check(project(tmp_path), target="cpu").plan
    qa, talk = plan.mixture.sources
    assert (qa.sequences, talk.sequences) == (36, 20)  # 10% of qa's 40 rows held out; talk holds none out
    total = qa.sequences + talk.sequences
    assert [qa.drawn_per_epoch, talk.drawn_per_epoch] == draws(total, [0.75, 0.25]) == [42, 14]
    assert plan.estimates.sequences_per_epoch == total
    assert plan.estimates.optimizer_steps == math.ceil(total / 4) * 2
    assert plan.estimates.tokens_per_epoch == qa.tokens_per_epoch + talk.tokens_per_epoch
    mixture = json.loads(api.compile_spec(tmp_path / "mixed.ft", tmp_path / "out", target="cpu").files["plan.json"])
    assert [s["share"] for s in mixture["mixture"]["sources"]] == [0.75, 0.25]
    assert "shuffled passes" in mixture["mixture"]["epoch"]


def test_a_single_data_block_plans_without_a_mixture(tmp_path):
    text = SPEC.split("data talk")[0].replace("data qa", "data").replace("  weight     = 3\n", "")
    text += "strategy lora { }\n"
    result = api.check(project(tmp_path, text), target="cpu")
    assert result.ok and result.plan.mixture is None and not result.loaded.spec.mixture
    files = api.compile_spec(tmp_path / "mixed.ft", tmp_path / "out", target="cpu").files
    assert "mixture" not in json.loads(files["plan.json"]) and "SOURCES" not in files["train.py"]


def test_faults_of_a_source_point_into_its_block_and_name_it(tmp_path):
    path = project(tmp_path, SPEC.replace('response   = "answer"', 'response   = "reply"'))
    result = api.check(path, target="cpu")
    [fault] = [d for d in result.diagnostics if d.code == "FT605"]
    assert fault.message.startswith("source `qa`: there is no column `reply`") and fault.span.line == 7
    project(tmp_path)
    with (tmp_path / "talk.jsonl").open("a") as out:
        out.write("{not json\n")
    report = api.check_data(api.check(tmp_path / "mixed.ft", target="cpu").plan)
    assert report.has_errors
    assert all(d.message.startswith("source `talk`: ") for d in report.diagnostics if d.is_error)
    assert "source qa (75% of each epoch)" in report.table() and "source talk (25% of each epoch)" in report.table()


def test_a_variant_changes_one_source_and_diff_says_what_the_weight_does(tmp_path):
    project(tmp_path)
    variant = tmp_path / "variant.ft"
    variant.write_text('extends = "mixed.ft"\nname = "variant"\ndata talk {\n  weight = 3\n}\n')
    result = api.check(variant, target="cpu")
    assert result.ok, [(d.code, d.message) for d in result.diagnostics]
    assert [s.share for s in result.plan.mixture.sources] == [0.5, 0.5]
    from ftspec.diff.spec import compare

    outcome = compare(str(tmp_path / "mixed.ft"), str(variant), target="cpu")
    changed = {change.key: (change.old_text, change.new_text) for change in outcome.diff.consequences}
    assert changed["mix (share of each epoch)"] == ("qa 75%, talk 25%", "qa 50%, talk 50%")
    assert changed["sequences drawn per epoch"] == ("qa 42, talk 14", "qa 28, talk 28")
    assert [c.key for c in outcome.diff.settings] == ["name", "data.talk.weight"]


def test_fmt_keeps_labelled_blocks_and_round_trips():
    once, _ = format_source(SPEC.replace("  weight     = 3", "weight=3"), "mixed.ft")
    assert "data qa {" in once and "data talk {" in once and "  weight     = 3" in once
    assert format_source(once, "mixed.ft")[0] == once


def test_the_editor_offers_data_keys_inside_a_labelled_block(tmp_path):
    pytest.importorskip("lsprotocol")
    from ftspec.lsp.complete import completions
    from ftspec.lsp.hover import key_text

    offered = [item.label for item in completions("data chat {\n  we", 1, 4, tmp_path / "x.ft")]
    assert "weight" in offered and "messages" in offered and "rank" not in offered
    formats = [item.label for item in completions("data chat {\n  format = ", 1, 11, tmp_path / "x.ft")]
    assert formats == ["text", "instruction", "chat", "classification", "preference"]
    assert "share of every epoch's training sequences" in key_text("data", "chat", "weight")


def test_each_source_is_checked_against_the_bases_tokenizer(tmp_path):
    import tinymodels

    base = tmp_path / "base"
    tinymodels.tokenizer().save_pretrained(base)  # a tokenizer without a chat template of its own
    config = {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}
    (base / "config.json").write_text(json.dumps(config | {"intermediate_size": 128, "vocab_size": 1024}))
    text = SPEC.replace('model = "org/model"', 'model = "base"').replace("  chat_template = chatml\n", "")
    result = api.check(project(tmp_path, text), target="cpu")
    [missing] = [d for d in result.diagnostics if d.code == "FT246"]
    assert missing.span.line == 14  # the `format = chat` of source `talk`, not of the first source
