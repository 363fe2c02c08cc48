"""Do bf16 autocast and fused AdamW pay on this CPU? The generated train.py, as compiled for a CPU
target (fp32, AdamW's default loop), against the same script with one option changed at a time.

The development machines' CPUs have AVX512-BF16, where a bf16 matrix product runs ~2.6x faster
than fp32 (STACK.md). Whether that survives autocast's casts in a small model is what this measures.
Same data, model, steps and seed as bench/throughput.py; effective tokens/s after the first steps, and the
first and last logged loss (speed must not change what is learned).

Run: python bench/cpu_options.py [--rounds 2] [--hidden 128]
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

OPTIONS = {  # name: (text in train.py, replacement)
    "fp32 (as planned)": None,
    "bf16 autocast": ('MIXED_PRECISION = "no"', 'MIXED_PRECISION = "bf16"'),
    "fused AdamW": (
        "torch.optim.AdamW(groups, lr=LEARNING_RATE)",
        "torch.optim.AdamW(groups, lr=LEARNING_RATE, fused=True)",
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_DATASETS_DISABLE_PROGRESS_BARS="1")
    import throughput
    import tinymodels

    from ftspec import api

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ.setdefault("HF_HOME", str(work / "hf"))
        model = tinymodels.causal_model(work / "model", hidden=args.hidden, steps=0)
        data = work / "data.jsonl"
        throughput.write_data(data, "variable", 600, random.Random(throughput.SEED))
        spec = work / "options.ft"
        spec.write_text(
            throughput.SPEC.format(
                model=model,
                data=data,
                max_length=512,
                steps=args.steps,
                micro=8,
                accum=1,
                lr=1e-4,
                seed=throughput.SEED,
            )
        )
        result = api.compile_spec(spec, work / "run", target="cpu")
        assert result.ok, [d.message for d in result.diagnostics]
        api.write(result.files, result.out_dir)
        original = (result.out_dir / "train.py").read_text()
        rates: dict[str, list[float]] = {name: [] for name in OPTIONS}
        for _ in range(args.rounds):
            for name, change in OPTIONS.items():
                text = original if change is None else original.replace(*change)
                assert change is None or text != original, f"{name}: the script has no {change[0]!r}"
                (result.out_dir / "train.py").write_text(text)
                subprocess.run(
                    [sys.executable, "train.py"],
                    cwd=result.out_dir,
                    check=True,
                    capture_output=True,
                    env={**os.environ, "ACCELERATE_USE_CPU": "true"},
                )
                records = [json.loads(line) for line in (result.plan.output.logs / "metrics.jsonl").open()]
                timed = [r for r in records if "loss_tokens" in r and r["step"] > throughput.WARMUP_STEPS]
                rate = sum(r["loss_tokens"] for r in timed) / sum(r["seconds"] for r in timed)
                rates[name].append(rate)
                losses = [r["loss"] for r in records if "loss" in r]
                print(
                    f"{name:<20} {rate:>10,.0f} effective tokens/s  loss {losses[0]:.5f} -> {losses[-1]:.5f}",
                    flush=True,
                )
        base = statistics.median(rates["fp32 (as planned)"])
        for name, found in rates.items():
            median = statistics.median(found)
            print(f"{name:<20} median {median:>10,.0f}  ratio to fp32 {median / base:.2f}")


if __name__ == "__main__":
    main()
