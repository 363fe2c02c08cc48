"""A mixture of three sources (instruction, chat and text) trained for real on a tiny decoder: each epoch draws
every source's share, the steps are the planned ones, and eval.py reports held-out figures per source.

The generated scripts run in this process (runpy), one short epoch, on CPU.
"""

from __future__ import annotations

import json
import math
import re

import pytest
import tinymodels

from ftspec import api
from ftspec.planner.mixture import draws

pytestmark = pytest.mark.slow


def test_a_mixture_trains_on_each_sources_share_and_reports_each_source(tmp_path, capsys):
    files = tinymodels.datasets(tmp_path / "data")
    model = tinymodels.causal_model(tmp_path / "causal")
    spec = tmp_path / "mixed.ft"
    spec.write_text(
        f'name = "mixed"\nbase {{ model = "{model}" }}\n'
        f'data qa {{\n  train = "{files["instruction"]}"\n  format = instruction\n  prompt = "question"\n'
        '  response = "answer"\n  max_samples = 24\n  eval_split = 25%\n  max_length = 128\n  weight = 3\n}\n'
        f'data talk {{\n  train = "{files["chat"]}"\n  format = chat\n  chat_template = chatml\n'
        "  max_samples = 16\n  eval_split = 25%\n  weight = 1\n}\n"
        f'data prose {{\n  train = "{files["text"]}"\n  max_samples = 12\n  eval_split = 0%\n  weight = 1\n}}\n'
        "strategy full { }\ntrain {\n  epochs = 1\n  batch_size = 4\n  learning_rate = 1e-3\n  log_every = 1\n"
        '  seed = 3\n}\neval {\n  compare_base = true\n  prompts = ["How do I field at slip?"]\n'
        "  max_new_tokens = 4\n}\n"
    )
    out = tmp_path / "runs" / "mixed"
    result = api.compile_spec(spec, out, target="cpu")
    assert result.ok, [(d.code, d.message) for d in result.diagnostics]
    api.write(result.files, out)
    plan = json.loads((out / "plan.json").read_text())
    assert [s["share"] for s in plan["mixture"]["sources"]] == [0.6, 0.2, 0.2]
    tinymodels.run_script(out / "train.py")
    logged = capsys.readouterr().out
    found = re.search(
        r"data: (\d+) training sequences an epoch \(qa (\d+) of (\d+), talk (\d+) of (\d+), prose (\d+) of (\d+)\)",
        logged,
    )
    assert found, logged
    total, qa, qa_own, talk, talk_own, prose, prose_own = map(int, found.groups())
    assert (qa_own, talk_own) == (18, 12)  # 25% of 24 and of 16 held out, each source on its own
    assert total == qa_own + talk_own + prose_own and [qa, talk, prose] == draws(total, [0.6, 0.2, 0.2])
    assert qa > qa_own  # a share above a source's own size repeats its sequences
    steps = [record["step"] for record in map(json.loads, (out / "logs" / "metrics.jsonl").open()) if "loss" in record]
    assert steps[-1] == math.ceil(total / 4)
    if total == plan["estimates"]["sequences_per_epoch"]:
        assert steps[-1] == plan["estimates"]["optimizer_steps"]
    tinymodels.run_script(out / "eval.py")
    report = json.loads((out / "eval" / "report.json").read_text())
    tuned = report["tuned"]
    assert set(tuned["sources"]) == {"qa", "talk"}  # prose holds no rows out
    assert tuned["tokens"] == sum(source["tokens"] for source in tuned["sources"].values())
    weighted = sum(s["loss"] * s["tokens"] for s in tuned["sources"].values()) / tuned["tokens"]
    assert tuned["loss"] == pytest.approx(weighted)
    assert set(report["base"]["sources"]) == {"qa", "talk"}
    markdown = (out / "eval" / "report.md").read_text()
    assert "## Held-out figures by source" in markdown and "| qa | 60% |" in markdown
