"""The evaluation report's arithmetic, on the generated eval.py: generation metrics equal the
libraries' own, the verdict is computed from the figures, directions and signed changes are right,
the duplicate loss row is dropped, and held-out loss rising while training loss falls is named."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from ftspec import api

SPEC = """name = "coach"
base {{ model = "org/m" }}
data {{
  train    = "d.jsonl"
  format   = {fmt}
  {columns}
}}
strategy lora {{ }}
"""
COLUMNS = {
    "instruction": 'prompt = "question"\n  response = "answer"',
    "classification": 'text = "comment"\n  label = "sentiment"\n  labels = [a, b]',
}


def harness(tmp_path, fmt="instruction"):
    """The generated eval.py of a small spec, imported (its train.py beside it)."""
    (tmp_path / "d.jsonl").write_text('{"question": "q", "answer": "a", "comment": "c", "sentiment": "a"}\n')
    spec = tmp_path / "c.ft"
    spec.write_text(SPEC.format(fmt=fmt, columns=COLUMNS[fmt]))
    result = api.compile_spec(spec, tmp_path / "out", target="cpu")
    assert result.ok, [d.message for d in result.diagnostics]
    api.write(result.files, result.out_dir)
    sys.path.insert(0, str(result.out_dir))
    try:
        module_spec = importlib.util.spec_from_file_location("ftspec_eval_report", result.out_dir / "eval.py")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(result.out_dir))
        sys.modules.pop("train", None)
    return module


ANSWER = "Keep your head still and play the ball late, under your eyes, with a straight bat."
REFERENCE = "Play late under your eyes: keep the head still over the ball and the bat straight."


def test_generation_metrics_equal_the_libraries_own(tmp_path):
    from rouge_score import rouge_scorer
    from sacrebleu.metrics import CHRF

    got = harness(tmp_path).generation_metrics([ANSWER, "the the the"], [REFERENCE, "Bowl a full length."])
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    rouge = [scorer.score(REFERENCE, ANSWER)["rougeL"].fmeasure, scorer.score("Bowl a full length.", "the the the")]
    assert got["rouge_l"] == pytest.approx((rouge[0] + rouge[1]["rougeL"].fmeasure) / 2)
    chrf = CHRF().corpus_score([ANSWER, "the the the"], [[REFERENCE, "Bowl a full length."]]).score
    assert got["chrf"] == pytest.approx(chrf)
    assert 0 < got["rouge_l"] < 1 and 0 < got["chrf"] < 100


def report(tuned, base, answers_only=True):
    return {"name": "coach", "held_out": 26, "answers_only": answers_only, "tuned": tuned, "base": base}


def test_the_verdict_is_computed_from_the_figures(tmp_path):
    module = harness(tmp_path)
    better = report(
        {"loss": 4.0, "perplexity": 54.6, "response_loss": 4.0, "rouge_l": 0.24, "chrf": 30.5},
        {"loss": 7.4, "perplexity": 1636.0, "response_loss": 7.4, "rouge_l": 0.08, "chrf": 12.0},
    )
    text = module.verdict(better)
    assert text.startswith("On 26 held-out examples the tuned model beats its base on 4 of 4 metrics")
    assert "3.0× closer to the reference answers (ROUGE-L 0.24 vs 0.08, chrF 30.5 vs 12)" in text
    assert "perplexity of the reference answers fell from 1,636 to 54.6 (30.0× lower)" in text
    worse = report(dict(better["base"]), dict(better["tuned"]))
    text = module.verdict(worse)
    assert "beats its base on 0 of 4 metrics" in text and "no closer to the reference answers" in text
    assert "rose from 54.6 to 1,636" in text
    silent = report(dict(better["tuned"]), {**better["base"], "rouge_l": 0.0, "chrf": 0.0})
    text = module.verdict(silent)
    assert text.startswith("On 26 held-out examples the tuned model beats its base on 4 of 4 metrics")
    assert "share words with the reference answers and the base's share none (ROUGE-L 0.24 vs 0, chrF" in text
    alone = module.verdict({**better, "base": None})
    assert "cannot say what training changed" in alone and "ROUGE-L 0.24" in alone


def test_the_table_names_directions_signed_changes_and_one_loss_row(tmp_path):
    module = harness(tmp_path)
    figures = report(
        {"loss": 4.0, "perplexity": 54.6, "response_loss": 4.0, "rouge_l": 0.24, "chrf": 30.5},
        {"loss": 7.4, "perplexity": 1636.0, "response_loss": 7.4, "rouge_l": 0.08, "chrf": 12.0},
    )
    figures["generations"], figures["held_out_answers"] = [], []
    text = module.markdown(figures, ["metrics.png", "loss.png"], [])
    assert "response_loss" not in text and "loss on the answers" not in text
    assert "| perplexity (answers) | ↓ lower | 1,636 | 54.6 | -96.7% (better) |" in text
    assert "| ROUGE-L | ↑ higher | 0.08 | 0.24 | +200.0% (better) |" in text
    assert text.index(module.verdict(figures)) < text.index("![metrics](metrics.png) ![loss](loss.png)")
    # With a loss on prompts, the loss on answers is a figure of its own.
    figures["tuned"]["response_loss"], figures["answers_only"] = 3.0, False
    assert "| loss on the answers |" in module.markdown(figures, None, [])
    # A base whose answers share nothing with the references: no relative change, still a direction.
    figures["base"]["rouge_l"] = 0.0
    assert "| ROUGE-L | ↑ higher | 0 | 0.24 | – (better) |" in module.markdown(figures, None, [])


def test_held_out_loss_rising_while_training_loss_falls_is_reported_with_its_step(tmp_path):
    module = harness(tmp_path)
    records = [{"step": 0, "eval_loss": 1.10}, {"step": 10, "loss": 0.9}, {"step": 10, "eval_loss": 0.62}]
    records += [{"step": 20, "loss": 0.4}, {"step": 20, "eval_loss": 0.70}, {"step": 30, "loss": 0.125}]
    records += [{"step": 30, "eval_loss": 0.857}]
    text = module.overfitting(records)
    assert text.startswith("Held-out loss rose from 0.62 at step 10 to 0.857 at step 30")
    assert "training loss fell from 0.4 to 0.125" in text
    improving = [r if "eval_loss" not in r else {**r, "eval_loss": 1.0 / (1 + r["step"])} for r in records]
    assert module.overfitting(improving) is None
    assert module.overfitting(records[:3]) is None  # two held-out points say nothing about a trend


def test_a_classification_report_carries_per_class_precision_and_recall(tmp_path):
    module = harness(tmp_path, "classification")
    tuned = module.classification_metrics([0, 1, 1, 0], [0, 1, 0, 0], ["a", "b"])
    base = module.classification_metrics([1, 1, 1, 1], [0, 1, 0, 0], ["a", "b"])
    text = module.markdown(report(tuned, base), None, [])
    assert "| accuracy | ↑ higher | 0.25 | 0.75 | +200.0% (better) |" in text
    assert "| a | 0 | 1 | 0 | 0.6667 | 3 |" in text and "| b | 0.25 | 0.5 | 1 | 1 | 1 |" in text
    assert module.verdict(report(tuned, base)).endswith(
        "accuracy rose from 0.25 to 0.75; macro-F1 rose from 0.2 to 0.7333."
    )
