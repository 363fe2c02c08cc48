"""Two CPU processes under `accelerate launch` form one DDP group and learn what one process learns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tinymodels

from ftspec import api

pytestmark = pytest.mark.slow

SPEC = """name = "{name}"
base {{ model = "{base}" }}
data {{
  train      = "{data}"
  max_length = 64
}}
strategy full {{ }}
train {{
  max_steps     = 4
  batch_size    = 8
  learning_rate = 1e-3
  log_every     = 1
}}
hardware {{ processes = {processes} }}
"""


def launch(root: Path, name: str, processes: int, base: Path, data: Path) -> tuple[str, list[dict]]:
    spec = root / f"{name}.ft"
    spec.write_text(SPEC.format(name=name, base=base, data=data, processes=processes))
    result = api.compile_spec(spec, root / name, target="cpu")
    assert result.ok, [d.message for d in result.diagnostics]
    assert result.plan.hardware.processes == processes
    api.write(result.files, result.out_dir)
    # launch.sh finds `accelerate` on PATH, as in an activated virtualenv.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        ["bash", "launch.sh"], cwd=result.out_dir, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    records = [json.loads(line) for line in (result.plan.output.logs / "metrics.jsonl").read_text().splitlines()]
    return done.stdout + done.stderr, records


def test_two_cpu_processes_form_one_group_and_match_one_process(tmp_path):
    base = tinymodels.causal_model(tmp_path / "base")
    data = tinymodels.datasets(tmp_path / "data")["text"]
    single_log, single = launch(tmp_path, "single", 1, base, data)
    double_log, double = launch(tmp_path, "double", 2, base, data)
    assert "process 1 of 1" in single_log
    assert "process 1 of 2" in double_log and "process 2 of 2" in double_log
    # Same global batch of 8 (8 x 1 against 4 x 2), same data order: the same losses, up to the
    # order in which the two processes' sums are added (tolerance 1e-4 relative).
    for one, two in zip(single, double, strict=True):
        key = "loss" if "loss" in one else "eval_loss"
        assert two[key] == pytest.approx(one[key], rel=1e-4), (one, two)
