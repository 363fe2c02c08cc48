"""Training for real, a few steps each: `ftspec run` on the shipped examples, and the core strategies.

These start `accelerate launch` processes and take about two minutes in all on a 2-core CPU.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, ftspec_command

pytestmark = pytest.mark.slow


def few_steps(text: str, steps: int) -> str:
    """The spec with its epochs replaced by a few optimizer steps."""
    return re.sub(r"(?m)^(\s*)epochs\s*=\s*\d+", rf"\1max_steps = {steps}", text)


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(ftspec_command(*args), cwd=cwd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "Traceback" not in done.stderr
    return done


@pytest.fixture(scope="session")
def project(tmp_path_factory) -> Path:
    """A copy of the examples, cut to a few steps, after `ftspec run specs/cricket-coach.ft`."""
    root = tmp_path_factory.mktemp("project")
    (root / "pyproject.toml").write_text("")  # marks the project root: runs/ goes here
    shutil.copytree(ROOT / "data", root / "data")
    (root / "specs").mkdir()
    for name, steps in (("tiny-base", 8), ("cricket-coach", 8)):
        text = (ROOT / "specs" / f"{name}.ft").read_text(encoding="utf-8")
        (root / "specs" / f"{name}.ft").write_text(few_steps(text, steps), encoding="utf-8")
    done = run("run", "specs/cricket-coach.ft", cwd=root)
    (root / "run.log").write_text(done.stdout + done.stderr)
    return root


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "logs" / "metrics.jsonl").read_text().splitlines()]


def test_run_builds_the_base_first_then_tunes_it(project):
    log = (project / "run.log").read_text()
    assert "starts from the model of `tiny-base`" in log
    assert log.index("training tiny-base") < log.index("training cricket-coach")
    base, coach = project / "runs" / "tiny-base", project / "runs" / "cricket-coach"
    assert (base / "model" / "config.json").is_file() and (base / "model" / "tokenizer.json").is_file()
    assert (coach / "model" / "config.json").is_file()  # strategy full: the whole model
    assert [m["step"] for m in metrics(base) if "loss" in m][-1] == 8
    assert all(m["loss"] > 0 for m in metrics(coach) if "loss" in m)
    assert (coach / "spec" / "cricket-coach.ft").is_file() and (coach / "train.py").is_file()


def test_the_run_ends_with_a_report_of_tuned_against_base(project):
    report = json.loads((project / "runs" / "cricket-coach" / "eval" / "report.json").read_text())
    assert report["tuned"]["perplexity"] < report["base"]["perplexity"]
    [answer] = report["generations"]
    assert answer["prompt"] == "How do I play and swing a cricket ball?"
    assert isinstance(answer["tuned"], str) and isinstance(answer["base"], str)
    assert (project / "runs" / "cricket-coach" / "eval" / "loss.png").is_file()
    assert "evaluating cricket-coach" in (project / "run.log").read_text()


def test_the_saved_adapter_loads_back_and_matches_the_merged_model(project):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # The coach as a LoRA variant of three lines, on the base the first run built.
    variant = 'extends = "cricket-coach.ft"\nname = "coach-lora"\nstrategy lora { rank = 8 }\n'
    variant += 'output {\n  dir   = "../runs/coach-lora"\n  merge = true\n}\n'
    (project / "specs" / "coach-lora.ft").write_text(variant, encoding="utf-8")
    run("run", "specs/coach-lora.ft", cwd=project)
    runs = project / "runs"
    tokenizer = AutoTokenizer.from_pretrained(runs / "coach-lora" / "adapter")
    base = AutoModelForCausalLM.from_pretrained(runs / "tiny-base" / "model")
    tuned = PeftModel.from_pretrained(base, runs / "coach-lora" / "adapter").eval()
    merged = AutoModelForCausalLM.from_pretrained(runs / "coach-lora" / "model").eval()
    ids = tokenizer("### Question:\nHow do I swing a cricket ball?\n\n### Answer:\n", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.allclose(tuned(ids).logits, merged(ids).logits, atol=1e-4)


CORE = {
    "full-text": ('data { train = "../data/general/python-docs.txt"\n max_length = 128 }\n', "full", "model"),
    "full-instruction": (
        'data { train = "../data/cricket/coaching.jsonl"\n format = instruction\n'
        ' prompt = "question"\n response = "answer"\n max_length = 128 }\n',
        "full",
        "model",
    ),
    "lora-text": (
        'data { train = "../data/general/python-docs.txt"\n max_length = 128 }\n',
        "lora { rank = 4 }",
        "adapter",
    ),
}


@pytest.mark.parametrize("case", sorted(CORE))
def test_core_strategy_trains_and_saves(project, case):
    data, strategy, saves = CORE[case]
    kind, _, options = strategy.partition(" ")
    spec = project / "specs" / f"{case}.ft"
    spec.write_text(
        f'name = "{case}"\nbase {{ spec = "tiny-base.ft" }}\n{data}strategy {kind} {options or "{ }"}\n'
        "train {\n  max_steps = 3\n  batch_size = 4\n}\n"
    )
    run("run", str(spec.relative_to(project)), cwd=project)
    out = project / "runs" / case
    assert (out / saves / ("adapter_config.json" if saves == "adapter" else "config.json")).is_file()
    losses = [m["loss"] for m in metrics(out) if "loss" in m]
    assert losses and all(loss == loss and loss > 0 for loss in losses)


def test_a_cpu_trains_in_bf16_when_asked(project):
    spec = project / "specs" / "bf16.ft"
    spec.write_text(
        'name = "bf16"\nbase { spec = "tiny-base.ft" }\n'
        'data { train = "../data/general/python-docs.txt"\n max_length = 128 }\nstrategy full { }\n'
        "train {\n  max_steps = 6\n  batch_size = 4\n  learning_rate = 1e-3\n  log_every = 1\n  precision = bf16\n}\n"
    )
    run("run", str(spec.relative_to(project)), cwd=project)
    out = project / "runs" / "bf16"
    assert json.loads((out / "plan.json").read_text())["hardware"]["precision"] == "bf16"
    losses = [m["loss"] for m in metrics(out) if "loss" in m]
    assert len(losses) == 6 and all(loss == loss for loss in losses) and losses[-1] < losses[0]


def test_the_sentiment_example_beats_the_untrained_head(tmp_path):
    """specs/patient-feedback.ft as shipped: all-MiniLM-L6-v2 with LoRA on the clinic feedback."""
    (tmp_path / "pyproject.toml").write_text("")
    shutil.copytree(ROOT / "data" / "clinic", tmp_path / "data" / "clinic")
    (tmp_path / "specs").mkdir()
    shutil.copy(ROOT / "specs" / "patient-feedback.ft", tmp_path / "specs")
    run("run", "specs/patient-feedback.ft", cwd=tmp_path)
    report = json.loads((tmp_path / "runs" / "patient-feedback" / "eval" / "report.json").read_text())
    assert report["held_out"] == 90
    assert report["tuned"]["accuracy"] >= report["base"]["accuracy"] + 0.2
    assert report["tuned"]["macro_f1"] >= report["base"]["macro_f1"] + 0.2
