"""Advice after planning (FT502–FT505): when it is given, and when it is not.

Each code's exact message is a case under tests/diagnostics/; these tests pin the thresholds and the shipped specs.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import ROOT, SHIPPED_ADVICE

from ftspec import api

DIAGNOSTICS = ROOT / "tests" / "diagnostics"


def advice(path: Path, *overrides: str, target: str | None = None) -> list[str]:
    result = api.check(path, overrides, target)
    return [d.code for d in result.diagnostics if d.code.startswith("FT5") and d.code != "FT501"]


def spec(tmp_path: Path, base: str, strategy: str, rows: int, domain: str = "general") -> Path:
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps({"question": f"q{i}", "answer": f"a{i}"}) + "\n" for i in range(rows)))
    path = tmp_path / "demo.ft"
    path.write_text(
        f'name = "demo"\ndomain = "{domain}"\nbase {{ model = "{base}" }}\n'
        'data {\n  train = "qa.jsonl"\n  format = instruction\n  prompt = "question"\n  response = "answer"\n}\n'
        f"strategy {strategy} {{ }}\n"
    )
    return path


def test_shipped_specs_get_only_the_advice_that_is_true():
    # tiny-base trains 722k parameters on ~221k tokens (2 epochs): 0.31 tokens per parameter, far below the
    # compute-optimal ~20. It is a deliberately tiny demo, and the advice is true of it.
    found = {path.stem: advice(path) for path in sorted((ROOT / "specs").glob("*.ft"))}
    assert found == {name: sorted(SHIPPED_ADVICE.get(name, ())) for name in found} and found["tiny-base"] == ["FT503"]


def test_no_advice_for_a_plan_with_errors():
    # Full fine-tuning of a 7B model on two rows is also a tiny training set, but it does not fit an l4 at all.
    result = api.check(DIAGNOSTICS / "FT403-does-not-fit.ft")
    assert [d.code for d in result.diagnostics] == ["FT403"]


def test_full_fine_tuning_of_1b_needs_1000_examples_after_the_held_out_split(tmp_path):
    tiny = "TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T"
    assert advice(spec(tmp_path, tiny, "full", 1110)) == ["FT504"]  # 999 after 10% is held out
    assert advice(spec(tmp_path, tiny, "full", 1112)) == []
    assert advice(spec(tmp_path, tiny, "lora", 200)) == []  # an adapter needs 100


def test_any_base_of_100m_needs_100_examples_and_smaller_ones_none(tmp_path):
    assert advice(spec(tmp_path, "google-bert/bert-base-uncased", "lora", 100)) == ["FT504"]  # 90 kept
    assert advice(spec(tmp_path, "google-bert/bert-base-uncased", "lora", 112)) == []
    assert advice(spec(tmp_path, "sentence-transformers/all-MiniLM-L6-v2", "full", 20)) == []  # 23M parameters


def test_a_domain_base_is_suggested_only_within_three_times_the_size(tmp_path):
    result = api.check(spec(tmp_path, "google-bert/bert-base-uncased", "lora", 500, domain="law"))
    [hint] = [d for d in result.diagnostics if d.code == "FT502"]
    assert "`nlpaueb/legal-bert-base-uncased` (legal)" in hint.message
    # The only legal decoder is 7B: too far from a 0.5B base to be a drop-in alternative.
    assert advice(spec(tmp_path, "Qwen/Qwen2.5-0.5B", "lora", 500, domain="legal")) == []
    # A domain served by general models, and a base that is a specialist already, get no advice.
    assert advice(spec(tmp_path, "google-bert/bert-base-uncased", "lora", 500, domain="sports/cricket")) == []
    assert advice(spec(tmp_path, "nlpaueb/legal-bert-base-uncased", "lora", 500, domain="legal")) == []


def test_non_commercial_bases_get_a_commercial_alternative(tmp_path):
    result = api.check(spec(tmp_path, "ProsusAI/finbert", "lora", 500, domain="finance"))
    [hint] = [d for d in result.diagnostics if d.code == "FT505"]
    assert hint.message == "the licence of `ProsusAI/finbert` (`unknown`) does not allow commercial use"
    assert hint.help.endswith("for a commercial product consider `google-bert/bert-base-uncased` (apache-2.0)")
    assert not hint.is_error
