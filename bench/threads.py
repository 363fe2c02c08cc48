"""Threads under `ftspec run` against a plain `accelerate launch` of the same generated script, on CPU.

`ftspec run` (before it ran launch.sh) starts train.py with ACCELERATE_USE_CPU=true for a CPU target;
Accelerate then sets OMP_NUM_THREADS to the physical cores per process, and KMP_AFFINITY/KMP_BLOCKTIME
(read by Intel's OpenMP only; the torch wheels link GNU libgomp). A plain `accelerate launch train.py` of
the copied script, without that variable or the configuration file, gets OMP_NUM_THREADS=1 from
Accelerate's default. The emitted launch.sh sets OMP_NUM_THREADS itself. This script compiles a small spec
for the CPU, prints what each way of launching hands the script (a probe launched the same way reports its
environment and torch's thread count), then trains with each, in alternation, and prints effective
tokens/s. The machine may be shared: say so with the figures.

Run: python bench/threads.py [--rounds 2] [--steps 12]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

PROBE = """import json, os, torch
names = ("OMP_NUM_THREADS", "KMP_AFFINITY", "KMP_BLOCKTIME", "OMP_WAIT_POLICY", "ACCELERATE_USE_CPU")
print(json.dumps({**{name: os.environ.get(name) for name in names}, "torch threads": torch.get_num_threads()}))
"""

ACCELERATE = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", "accelerate_config.yaml"]


def ways(run_dir: Path, plan) -> dict[str, tuple[list[str], dict[str, str]]]:
    """name -> (command with the script last, environment): the three ways to start the generated script."""
    from ftspec.run.launch import environment

    plain = {name: value for name, value in os.environ.items() if name not in ("OMP_NUM_THREADS", "ACCELERATE_USE_CPU")}
    plain["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{plain.get('PATH', '')}"  # launch.sh's `accelerate`
    today = {name: value for name, value in environment(plan).items() if name != "OMP_NUM_THREADS"}
    return {
        "ftspec run (today)": ([*ACCELERATE, "train.py"], today),
        # The script copied out alone: Accelerate's defaults, no configuration file.
        "accelerate launch train.py": ([*ACCELERATE[:-2], "train.py"], plain),
        "bash launch.sh": (["bash", str(run_dir / "launch.sh")], plain),
    }


def probe(run_dir: Path, command: list[str], env: dict[str, str]) -> dict:
    """What the script would see when started this way: train.py swapped for the probe."""
    (run_dir / "probe.py").write_text(PROBE)
    if command[0] == "bash":  # launch.sh execs accelerate with train.py: a copy that runs the probe instead
        text = (run_dir / "launch.sh").read_text().replace(" train.py ", " probe.py ")
        (run_dir / "probe.sh").write_text(text)
        command = ["bash", str(run_dir / "probe.sh")]
    else:
        command = [*command[:-1], "probe.py"]
    done = subprocess.run(command, cwd=run_dir, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def train(run_dir: Path, out: Path, command: list[str], env: dict[str, str], warmup: int) -> float:
    metrics = out / "logs" / "metrics.jsonl"
    subprocess.run(["rm", "-rf", str(out)], check=True)
    subprocess.run(command, cwd=run_dir, env=env, capture_output=True, text=True, check=True)
    records = [json.loads(line) for line in metrics.read_text().splitlines()]
    timed = [r for r in records if "loss_tokens" in r and r["step"] > warmup]
    return sum(r["loss_tokens"] for r in timed) / sum(r["seconds"] for r in timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=12)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    import tinymodels
    from throughput import SPEC, write_data

    from ftspec import api

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ.setdefault("HF_HOME", str(work / "hf"))
        model = tinymodels.causal_model(work / "model", hidden=128, steps=0)
        data = work / "data.jsonl"
        write_data(data, "variable", 200, random.Random(1))
        spec = work / "threads.ft"
        spec.write_text(
            SPEC.format(model=model, data=data, max_length=256, steps=args.steps, micro=4, accum=1, lr=1e-4, seed=1)
        )
        result = api.compile_spec(spec, work / "out", target="cpu")
        assert result.ok, [d.message for d in result.diagnostics]
        api.write(result.files, result.out_dir)
        run_dir, out = result.out_dir, work / "run"
        launches = ways(run_dir, result.plan)
        print(f"machine: {os.cpu_count()} CPU threads, load average {os.getloadavg()[0]:.1f} at the start")
        for name, (command, env) in launches.items():
            print(f"{name:<36} hands the script {probe(run_dir, command, env)}")
        rates: dict[str, list[float]] = {name: [] for name in launches}
        for round_ in range(args.rounds):
            for name, (command, env) in launches.items():
                rates[name].append(train(run_dir, out, command, env, warmup=2))
                print(f"round {round_ + 1} {name:<36} {rates[name][-1]:>8,.0f} effective tokens/s")
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
        for name, found in rates.items():
            print(f"{name:<36} median {statistics.median(found):>8,.0f} effective tokens/s")


if __name__ == "__main__":
    main()
