"""Speed does not change what is learned.

- Packing is exact: the loss of packed rows equals the loss of the same examples one per row.
- The generated script (length-grouped batches, token-weighted loss) and the Hugging Face Trainer
  baseline of bench/throughput.py, trained on the same data with the same seed, optimizer, learning
  rate, batch and steps, reach the same held-out loss within 2% (they see the rows in different
  orders, so their curves are not identical step by step).
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import tinymodels
from conftest import ROOT

from ftspec import api

pytestmark = pytest.mark.slow


def bench():
    spec = importlib.util.spec_from_file_location("bench_throughput", ROOT / "bench" / "throughput.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("equivalence")
    throughput = bench()
    model = tinymodels.causal_model(root / "model", hidden=64, steps=0)
    data, held_out = root / "data.jsonl", root / "held-out.jsonl"
    throughput.write_data(data, "variable", 160, random.Random(3))
    throughput.write_data(held_out, "variable", 40, random.Random(4))
    return {"root": root, "model": model, "data": data, "held_out": held_out, "bench": throughput}


def compiled(setup: dict, packing: bool) -> api.Result:
    args = {
        "model": setup["model"],
        "data": setup["data"],
        "max_length": 512,
        "steps": 20,
        "micro": 8,
        "accum": 1,
        "lr": 1e-3,
        "seed": 1,
    }
    text = (
        setup["bench"]
        .SPEC.format(**args)
        .replace("  max_length = 512", f"  max_length = 512\n  packing = {str(packing).lower()}")
    )
    spec = setup["root"] / f"packing-{packing}.ft"
    spec.write_text(text)
    result = api.compile_spec(spec, setup["root"] / f"run-{packing}", target="cpu")
    assert result.ok, [d.message for d in result.diagnostics]
    api.write(result.files, result.out_dir)
    return result


def held_out_loss(model_dir: Path, held_out: Path) -> float:
    """Mean loss per answer token over the held-out rows, one row at a time (plain torch)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    total = count = 0.0
    with torch.no_grad():
        for line in held_out.read_text().splitlines():
            row = json.loads(line)
            prompt = tokenizer("### Question:\n" + row["question"] + "\n\n### Answer:\n")["input_ids"]
            answer = tokenizer(row["answer"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
            ids = torch.tensor([(prompt + answer)[:512]])
            logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].double(), -1)
            targets = ids[0, 1:]
            counted = range(len(prompt) - 1, ids.shape[1] - 1)
            total -= sum(logp[t, targets[t]].item() for t in counted)
            count += len(counted)
    return total / count


def test_packed_rows_have_exactly_the_loss_of_unpacked_ones(setup):
    import torch

    losses = {}
    for packing in (True, False):
        result = compiled(setup, packing)
        sys.path.insert(0, str(result.out_dir))
        try:
            train = tinymodels.import_script(result.out_dir / "train.py", f"train_packing_{packing}")
        finally:
            sys.path.remove(str(result.out_dir))
        rows, _ = train.load_rows()
        tokenizer = train.load_tokenizer()
        model = train.load_base(torch.float32).eval()
        encoded = train.encode_all(rows, tokenizer)
        total = count = 0.0
        with torch.no_grad():
            for start in range(0, len(encoded), 4):
                batch = train.collate(encoded[start : start + 4], tokenizer.pad_token_id)
                losses_here, counts = train.row_losses(model, batch)
                total, count = total + losses_here.sum().item(), count + counts.sum().item()
        losses[packing] = (total, count, len(encoded))
    (packed, packed_count, packed_rows), (single, single_count, single_rows) = losses[True], losses[False]
    assert packed_rows < single_rows  # several examples share a packed row
    assert packed_count == single_count
    assert packed == pytest.approx(single, rel=1e-5)


def test_generated_script_and_trainer_learn_the_same(setup):
    result = compiled(setup, packing=False)
    env = {**os.environ, "ACCELERATE_USE_CPU": "true"}
    subprocess.run([sys.executable, "train.py"], cwd=result.out_dir, check=True, capture_output=True, env=env)
    root = setup["root"]
    script = root / "baseline.py"
    script.write_text(setup["bench"].BASELINE)
    subprocess.run(
        [
            sys.executable,
            str(script),
            str(setup["model"]),
            str(setup["data"]),
            str(root / "trainer"),
            "20",
            "8",
            "1",
            "1e-3",
            "512",
            "3",
        ],
        check=True,
        capture_output=True,
    )
    before = held_out_loss(setup["model"], setup["held_out"])
    ours = held_out_loss(result.plan.output.model, setup["held_out"])
    theirs = held_out_loss(root / "trainer" / "model", setup["held_out"])
    print(f"held-out loss: before {before:.4f}, ftspec {ours:.4f}, trainer {theirs:.4f}")
    assert ours < before - 0.2 and theirs < before - 0.2  # both learned
    assert ours == pytest.approx(theirs, rel=0.02), (before, ours, theirs)
