"""Every preference objective trains with an adapter and with full fine-tuning: the loss goes down (its mean
over the last third of the steps is below the first third's), the rewards are logged, the artefacts reload.

Tiny local models on CPU, a few steps each, fixed seeds; the generated scripts run in this process (runpy).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tinymodels
from conftest import ROOT

from ftspec import api

VAGUE = ("Just play your natural game.", "Practise more and it will come.", "Watch the ball.")
OBJECTIVES = {
    "dpo": "objective dpo {\n  beta = 0.1\n}",
    "ipo": "objective dpo {\n  loss = ipo\n  beta = 0.5\n}",
    "hinge": "objective dpo {\n  loss = hinge\n  label_smoothing = 0\n}",
    "orpo": "objective orpo {\n  beta = 0.1\n}",
    "simpo": "objective simpo {\n  beta = 2.0\n  gamma = 0.5\n}",
    "kto": "objective kto {\n  beta = 0.1\n}",
}
STRATEGIES = {"lora": ("strategy lora {\n  rank = 8\n  alpha = 16\n}", 5e-3), "full": ("strategy full { }", 1e-3)}
COLUMNS = {
    "pairs": 'prompt = "question"\n  chosen = "chosen"\n  rejected = "rejected"',
    "conversations": 'chosen = "chosen"\n  rejected = "rejected"\n  chat_template = chatml',
    "unpaired": 'prompt = "question"\n  completion = "completion"\n  label = "label"',
}
CASES = {
    f"{name}-{kind}": (name, kind, "unpaired" if name == "kto" else "pairs")
    for name in OBJECTIVES
    for kind in STRATEGIES
}
CASES["dpo-lora-conversations"] = ("dpo", "lora", "conversations")


def preference_rows() -> list[dict]:
    """The coach's answers, each chosen over a vague one, deterministic."""
    lines = (ROOT / "data" / "cricket" / "coaching.jsonl").read_text().splitlines()[:48]
    rows = [json.loads(line) for line in lines]
    return [{"question": r["question"], "chosen": r["answer"], "rejected": VAGUE[i % 3]} for i, r in enumerate(rows)]


def write_data(directory: Path) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    rows, paths = preference_rows(), {}
    paths["pairs"] = directory / "pairs.jsonl"
    paths["pairs"].write_text("".join(json.dumps(row) + "\n" for row in rows))
    paths["conversations"] = directory / "conversations.jsonl"
    with paths["conversations"].open("w") as out:
        for row in rows:
            user = [{"role": "user", "content": row["question"]}]
            answer = {"chosen": row["chosen"], "rejected": row["rejected"]}
            turns = {side: [*user, {"role": "assistant", "content": text}] for side, text in answer.items()}
            out.write(json.dumps(turns) + "\n")
    paths["unpaired"] = directory / "unpaired.jsonl"
    with paths["unpaired"].open("w") as out:
        for row in rows:
            for side, label in (("chosen", True), ("rejected", False)):
                out.write(json.dumps({"question": row["question"], "completion": row[side], "label": label}) + "\n")
    return paths


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("preference")
    return {"root": root, "data": write_data(root / "data"), "causal": tinymodels.causal_model(root / "causal")}


def spec_text(case: str, workspace: dict) -> str:
    objective, kind, layout = CASES[case]
    strategy, rate = STRATEGIES[kind]
    merge = "output {\n  merge = true\n}\n" if kind == "lora" else ""
    return (
        f'name = "{case}"\nbase {{ model = "{workspace["causal"]}" }}\n'
        f'data {{\n  train = "{workspace["data"][layout]}"\n  format = preference\n  {COLUMNS[layout]}\n'
        f"  eval_split = 20%\n  max_length = 96\n}}\n{strategy}\n{OBJECTIVES[objective]}\n"
        f"train {{\n  max_steps = 12\n  batch_size = 4\n  learning_rate = {rate}\n  log_every = 1\n  seed = 3\n}}\n"
        f"{merge}"
    )


def train(case: str, workspace: dict) -> Path:
    spec = workspace["root"] / f"{case}.ft"
    spec.write_text(spec_text(case, workspace))
    out = workspace["root"] / "runs" / case
    result = api.compile_spec(spec, out, target="cpu")
    assert result.ok, [(d.code, d.message) for d in result.diagnostics]
    api.write(result.files, out)
    tinymodels.run_script(out / "train.py")
    return out


def metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "logs" / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_objective_trains_and_saves(case, workspace):
    import torch
    from transformers import AutoModelForCausalLM

    objective, kind, _ = CASES[case]
    out = train(case, workspace)
    steps = [m for m in metrics(out) if "loss" in m]
    losses = [m["loss"] for m in steps]
    third = len(losses) // 3
    assert sum(losses[-third:]) / third < sum(losses[:third]) / third, f"the loss did not go down: {losses}"
    assert all({"rewards_chosen", "rewards_rejected", "reward_margin"} <= set(m) for m in steps)
    if objective != "kto":
        assert all(0 <= m["reward_accuracy"] <= 1 for m in steps)
    probe = torch.tensor([[5, 17, 42, 99, 7, 3]])
    model = AutoModelForCausalLM.from_pretrained(out / "model").eval()
    if kind == "lora":
        from peft import PeftModel

        base = AutoModelForCausalLM.from_pretrained(workspace["causal"]).eval()
        adapter = PeftModel.from_pretrained(base, out / "adapter").eval()
        with torch.no_grad():
            difference = (adapter(input_ids=probe).logits - model(input_ids=probe).logits).abs().max().item()
        assert difference < 1e-4, f"merged logits differ from the adapter's by {difference}"
    with torch.no_grad():
        assert torch.isfinite(model(input_ids=probe).logits).all()
