"""The data settings of issue 15, trained for real on a tiny decoder: rows chosen (a split slice, `max_samples`,
`min_length`), no held-out set, ShareGPT conversations, special-token overrides, alpaca's input variant, a chat
template on instruction rows, and tokenising and loading workers.

The generated scripts run in this process (runpy), a few steps each, on CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tinymodels

from ftspec import api

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("data-options")
    cricket = [json.loads(line) for line in (ROOT / "data" / "cricket" / "coaching.jsonl").read_text().splitlines()]
    sharegpt, alpaca = root / "sharegpt.jsonl", root / "alpaca.jsonl"
    with sharegpt.open("w") as out:
        for row in cricket[:60]:
            turns = [
                {"from": "system", "value": "You coach cricket."},
                {"from": "human", "value": row["question"]},
                {"from": "gpt", "value": row["answer"]},
            ]
            out.write(json.dumps({"conversations": turns}) + "\n")
    with alpaca.open("w") as out:
        for index, row in enumerate(cricket[:60]):
            context = "A club match." if index % 2 else ""
            out.write(json.dumps({"instruction": row["question"], "input": context, "output": row["answer"]}) + "\n")
    return {"root": root, "model": tinymodels.causal_model(root / "causal"), "sharegpt": sharegpt, "alpaca": alpaca}


def compile_and_train(name: str, data: str, workspace: dict, extra: str = "") -> tuple[Path, dict]:
    root = workspace["root"]
    spec = root / f"{name}.ft"
    spec.write_text(
        f'name = "{name}"\nbase {{ model = "{workspace["model"]}" }}\ndata {{\n{data}}}\n'
        f"{extra}strategy full {{ }}\ntrain {{\n  max_steps = 6\n  batch_size = 4\n  learning_rate = 1e-3\n"
        "  log_every = 1\n  seed = 3\n}\n"
    )
    out = root / "runs" / name
    result = api.compile_spec(spec, out, target="cpu")
    assert result.ok, [(d.code, d.message) for d in result.diagnostics]
    api.write(result.files, out)
    tinymodels.run_script(out / "train.py")
    return out, json.loads((out / "plan.json").read_text())


def metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "logs" / "metrics.jsonl").read_text().splitlines()]


def test_sharegpt_rows_train_on_every_row_with_no_held_out_set(workspace, capsys):
    data = (
        f'  train = "{workspace["sharegpt"]}"\n  format = chat\n  messages = "conversations"\n'
        '  role_key = "from"\n  content_key = "value"\n  user_role = "human"\n  assistant_role = "gpt"\n'
        "  chat_template = chatml\n  eval_split = 0%\n  max_samples = 40\n  min_length = 8\n"
        "  workers = 2\n  loader_workers = 1\n  max_length = 128\n"
    )
    extra = 'tokenizer {\n  eos_token = "<|endoftext|>"\n  pad_token = "<|pad|>"\n}\n'
    extra += 'eval {\n  prompts = ["How do I field at slip?"]\n  max_new_tokens = 8\n}\n'
    out, plan = compile_and_train("sharegpt-all-rows", data, workspace, extra)
    assert plan["data"]["held_out"] is False and plan["data"]["eval_split"] == 0.0
    assert plan["data"]["roles"] == {"human": "user", "gpt": "assistant", "system": "system"}
    assert plan["tokenizer"]["eos_token"] == "<|endoftext|>" and plan["tokenizer"]["pad_token"] == "<|pad|>"
    logged = capsys.readouterr().out
    assert "40 training sequences, 0 held out" in logged and "no rows held out" in logged
    records = metrics(out)
    assert [m["step"] for m in records if "loss" in m][-1] == 6
    assert not any("eval_loss" in m for m in records)
    tinymodels.run_script(out / "eval.py")
    report = json.loads((out / "eval" / "report.json").read_text())
    assert report["held_out"] == 0 and report["tuned"] == {}
    assert report["verdict"].startswith("No rows were held out")
    assert [g["prompt"] for g in report["generations"]] == ["How do I field at slip?"]


def test_alpaca_rows_with_and_without_input_in_a_qwen3_chat_template(workspace, capsys):
    data = (
        f'  train = "{workspace["alpaca"]}"\n  format = instruction\n  prompt = "instruction"\n  input = "input"\n'
        '  response = "output"\n  template = alpaca\n  chat_template = "qwen3"\n  split = "train[:50%]"\n'
        "  eval_split = 20%\n  max_length = 320\n"
    )
    out, plan = compile_and_train("alpaca-qwen3", data, workspace)
    assert plan["data"]["split"] == "train[:50%]" and plan["data"]["chat_turns"] is True
    assert "### Input:\n{input}" in plan["data"]["template"] and "Input" not in plan["data"]["template_no_input"]
    # A slice of half the 60 rows, a fifth of them held out.
    assert "24 training sequences, 6 held out" in capsys.readouterr().out
    records = metrics(out)
    assert [m["step"] for m in records if "loss" in m][-1] == 6 and "eval_loss" in records[-1]

    train = tinymodels.import_script(out / "train.py", "train_alpaca_qwen3")
    with_input = train.prompt_of({"instruction": "Bowl?", "input": "A club match.", "output": "Yes."})
    without = train.prompt_of({"instruction": "Bowl?", "input": "", "output": "Yes."})
    assert "### Input:\nA club match." in with_input and "paired with an input" in with_input
    assert "Input" not in without and "### Instruction:\nBowl?" in without
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(workspace["model"])
    encoded = train.encode({"instruction": "Bowl?", "input": "", "output": "Yes."}, tok)
    text = tok.decode(encoded["input_ids"])
    assert text.startswith("<|im_start|>user\nBelow is an instruction") and "<think>\n\n</think>\n\nYes." in text
