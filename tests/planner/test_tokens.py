"""Training tokens counted with the spec's own tokenizer when it is on disk, estimated otherwise (planner/tokens.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import tinymodels
from conftest import ROOT

from ftspec import api

ANSWER = "Aim at the base of the stumps. "
ROWS = [{"question": f"How do I bowl a yorker, take {i}?", "answer": ANSWER * (i % 7 + 1)} for i in range(40)]
SPEC = """name = "counted"
base {{ {base} }}
data {{
  train      = "train.jsonl"
  format     = instruction
  prompt     = "question"
  response   = "answer"
  max_length = 24
}}
strategy lora {{ }}
train {{ batch_size = 4 }}
hardware {{ gpu = l4 }}
"""


def project(tmp_path, base: str):
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in ROWS), encoding="utf-8")
    path = tmp_path / "counted.ft"
    path.write_text(SPEC.format(base=base), encoding="utf-8")
    return path


def local_base(directory):
    """A directory with a config.json and a tokenizer.json, as a downloaded base has."""
    tinymodels.tokenizer().save_pretrained(directory)
    config = {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}
    config |= {"intermediate_size": 128, "vocab_size": 1024}
    (directory / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return directory


def test_tokens_are_counted_with_a_local_bases_tokenizer(tmp_path):
    from tokenizers import Tokenizer

    base = local_base(tmp_path / "base")
    plan = api.check(project(tmp_path, 'model = "base"')).plan
    estimates = plan.estimates
    assert estimates.token_count == "counted with the base's tokenizer.json"
    # What the script tokenizes: the templated prompt and the answer, an end token, cut at max_length.
    tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
    template = "### Question:\n{question}\n\n### Answer:\n"
    lengths = [len(tokenizer.encode(template.format_map(row) + row["answer"]).ids) + 1 for row in ROWS]
    assert estimates.tokens_per_epoch == int(sum(min(n, 24) for n in lengths) * 0.9)
    by_characters = int(sum(len(json.dumps(row)) + 1 for row in ROWS) * 0.9 / 4)
    assert estimates.tokens_per_epoch != by_characters


def test_a_base_built_by_another_spec_is_estimated_before_and_after_its_run(tmp_path):
    (tmp_path / "base.ft").write_text(
        'name = "tiny"\ndata { train = "train.jsonl"\n format = text }\n'
        "tokenizer { train = true }\nstrategy scratch { hidden_size = 64 }\n",
        encoding="utf-8",
    )
    spec = project(tmp_path, 'spec = "base.ft"')
    before = api.check(spec).plan
    assert before.estimates.token_count.startswith("estimated at 4 characters a token: the base is built by")
    local_base(before.base.path)  # the base spec has run: its model and tokenizer now exist
    after = api.check(spec).plan
    assert after.estimates == before.estimates


def test_a_hub_base_absent_from_the_cache_is_estimated_and_tokenizers_is_not_imported(tmp_path):
    """`check` of a spec whose tokenizer is not on disk reads no rows and imports no tokenizer library."""
    spec = project(tmp_path, 'model = "meta-llama/Llama-2-7b-hf"')
    code = f"""
import sys
from ftspec import api
plan = api.check({str(spec)!r}).plan
print(plan.estimates.token_count)
assert "tokenizers" not in sys.modules, "tokenizers imported"
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True)
    why = "the tokenizer's tokenizer.json is not on this machine"
    assert done.stdout.strip() == f"estimated at 4 characters a token: {why}"
