"""The evaluation harness: its perplexity matches an independent computation, its classification
metrics match scikit-learn's, and its report has the loss curve it links."""

from __future__ import annotations

import importlib.util
import json
import math
import random
import sys
from pathlib import Path

import pytest
import tinymodels

from ftspec import api

pytestmark = pytest.mark.slow

SPECS = {
    "text": 'data {{\n  train = "{data}"\n  eval_split = 25%\n  max_length = 64\n  packing = false\n}}\n'
    "strategy full {{ }}\n",
    "instruction": 'data {{\n  train = "{data}"\n  format = instruction\n  prompt = "question"\n'
    '  response = "answer"\n  eval_split = 25%\n  max_length = 96\n  packing = true\n}}\n'
    "strategy lora {{\n  rank = 4\n}}\n",
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("eval")
    data = tinymodels.datasets(root / "data")
    base = tinymodels.causal_model(root / "base")
    out = {}
    for fmt, body in SPECS.items():
        spec = root / f"{fmt}.ft"
        spec.write_text(
            f'name = "{fmt}"\nbase {{ model = "{base}" }}\n'
            + body.format(data=data[fmt])
            + "train {\n  max_steps = 4\n  batch_size = 8\n  learning_rate = 1e-3\n}\n"
            "eval {\n  compare_base = true\n  max_new_tokens = 8\n}\n"
        )
        result = api.compile_spec(spec, root / "runs" / fmt, target="cpu")
        assert result.ok, [d.message for d in result.diagnostics]
        api.write(result.files, result.out_dir)
        tinymodels.run_script(result.out_dir / "train.py")
        tinymodels.run_script(result.out_dir / "eval.py")
        out[fmt] = {"dir": result.out_dir, "data": data[fmt], "base": base, "plan": result.plan}
    return out


def held_out(path: Path, fraction: float, seed: int):
    """The held-out rows: the same split train.py makes (selection, not computation)."""
    from datasets import load_dataset

    rows = load_dataset("json", data_files=[str(path)], split="train")
    return rows.train_test_split(test_size=fraction, seed=seed)["test"]


def independent_perplexity(model, tokenizer, examples) -> float:
    """Summed negative log-likelihood over the counted tokens, one example at a time, plain torch."""
    import torch

    nll, count = 0.0, 0
    with torch.no_grad():
        for ids, counted in examples:
            if not any(counted[1:]):
                continue
            logits = model(input_ids=torch.tensor([ids])).logits[0].double()
            logp = torch.log_softmax(logits, dim=-1)
            for t in range(1, len(ids)):
                if counted[t]:
                    nll -= logp[t - 1, ids[t]].item()
                    count += 1
    return math.exp(nll / count)


def test_text_perplexity_matches_an_independent_computation(runs):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run = runs["text"]
    report = json.loads((run["dir"] / "eval" / "report.json").read_text())
    model = AutoModelForCausalLM.from_pretrained(run["dir"] / "model").eval()
    tokenizer = AutoTokenizer.from_pretrained(run["dir"] / "model")
    max_length = run["plan"].data.max_length
    examples = []
    for row in held_out(run["data"], 0.25, run["plan"].data.shuffle_seed):
        ids = tokenizer(row["text"])["input_ids"] + [tokenizer.eos_token_id]
        for start in range(0, len(ids), max_length):  # texts longer than a row are cut into pieces
            piece = ids[start : start + max_length]
            examples.append((piece, [True] * len(piece)))
    expected = independent_perplexity(model, tokenizer, examples)
    assert report["tuned"]["perplexity"] == pytest.approx(expected, rel=1e-4)


def test_instruction_perplexity_matches_an_independent_computation(runs):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run = runs["instruction"]
    report = json.loads((run["dir"] / "eval" / "report.json").read_text())
    tokenizer = AutoTokenizer.from_pretrained(run["dir"] / "adapter")
    base = AutoModelForCausalLM.from_pretrained(run["base"]).eval()
    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(run["base"]), run["dir"] / "adapter")
    examples = []
    for row in held_out(run["data"], 0.25, run["plan"].data.shuffle_seed):
        prompt = tokenizer(f"### Question:\n{row['question']}\n\n### Answer:\n")["input_ids"]
        answer = tokenizer(row["answer"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        ids = (prompt + answer)[:96]
        examples.append((ids, ([False] * len(prompt) + [True] * len(answer))[:96]))
    assert report["tuned"]["perplexity"] == pytest.approx(
        independent_perplexity(tuned.eval(), tokenizer, examples), rel=1e-4
    )
    assert report["base"]["perplexity"] == pytest.approx(independent_perplexity(base, tokenizer, examples), rel=1e-4)
    assert report["tuned"]["response_loss"] == pytest.approx(report["tuned"]["loss"])  # no loss on prompts


def test_report_has_both_sections_generations_and_the_loss_curve(runs):
    from PIL import Image

    directory = runs["instruction"]["dir"] / "eval"
    report = json.loads((directory / "report.json").read_text())
    assert set(report) >= {"tuned", "base", "generations", "name"}
    assert len(report["generations"]) == 3 and all({"prompt", "tuned", "base"} <= set(g) for g in report["generations"])
    with Image.open(directory / "loss.png") as image:
        assert image.size == (600, 320)
    with Image.open(directory / "metrics.png") as image:
        assert image.size[0] > image.size[1]  # one panel per metric, side by side
    assert {"rouge_l", "chrf"} <= set(report["tuned"]) and len(report["held_out_answers"]) == report["held_out"]
    markdown = (directory / "report.md").read_text()
    assert markdown.splitlines()[2] == report["verdict"]
    assert "![metrics](metrics.png) ![loss](loss.png)" in markdown and "| perplexity (answers) |" in markdown
    assert "- base:" in markdown and "- reference:" in markdown


def test_classification_metrics_equal_scikit_learn(tmp_path):
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score, recall_score

    (tmp_path / "d.csv").write_text("comment,sentiment\nx,a\n")
    spec = tmp_path / "c.ft"
    spec.write_text(
        'name = "c"\nbase { model = "org/m" }\ndata {\n  train = "d.csv"\n  format = classification\n'
        '  text = "comment"\n  label = "sentiment"\n  labels = [a, b, c]\n}\nstrategy lora { }\n'
    )
    result = api.compile_spec(spec, tmp_path / "out", target="cpu")
    api.write(result.files, result.out_dir)
    sys.path.insert(0, str(result.out_dir))
    try:
        module_spec = importlib.util.spec_from_file_location("ftspec_eval_under_test", result.out_dir / "eval.py")
        harness = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(harness)
    finally:
        sys.path.remove(str(result.out_dir))
        sys.modules.pop("train", None)
    rng = random.Random(7)
    true = [rng.randrange(3) for _ in range(200)]
    predicted = [t if rng.random() < 0.6 else rng.randrange(3) for t in true]
    predicted[:5] = [2] * 5
    got = harness.classification_metrics(predicted, true, ["a", "b", "c"])
    assert got["accuracy"] == pytest.approx(accuracy_score(true, predicted))
    assert got["macro_f1"] == pytest.approx(f1_score(true, predicted, average="macro"))
    precision = precision_score(true, predicted, average=None)
    recall = recall_score(true, predicted, average=None)
    for index, name in enumerate("abc"):
        assert got["precision"][name] == pytest.approx(precision[index])
        assert got["recall"][name] == pytest.approx(recall[index])
    assert got["confusion_matrix"] == confusion_matrix(true, predicted).tolist()
    # A class never predicted has precision 0, as scikit-learn's zero_division=0 says.
    got = harness.classification_metrics([0, 0, 1], [0, 2, 1], ["a", "b", "c"])
    assert got["precision"]["c"] == 0.0 and got["macro_f1"] == pytest.approx(
        f1_score([0, 2, 1], [0, 0, 1], average="macro", zero_division=0)
    )
