"""Model FLOP utilisation of a generated train.py on a GPU: a ~0.5B-parameter Llama-shaped model
built from a config (random init, no download), trained in bf16 on packed text.

One prepared call on a GPU machine (nothing to download there; see README "Benchmarks"):

    python3 bench/gpu_mfu.py            # writes $OUT/mfu.json when $OUT is set

The spec opts in to `train { compile = true }`; `--eager` measures without it. Seen on one H200
(torch 2.11, transformers 5.17, 2026-11-26): 45.0% with torch.compile, 27.6% eager.

It measures the card's bf16 matmul peak first (8192^3 products), compiles a spec for the detected
GPU, runs the generated train.py, and reports achieved FLOP/s against that peak, with FLOPs per
token = 6 N (N: every parameter a matmul uses) + 12 L H S (attention scores and values, forward
and backward). `--tiny` runs the same pipeline with a small model on CPU, to check it before a GPU
is at hand.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZES = {  # hidden, layers, heads, intermediate, micro-batch, sequence length, steps
    "0.5b": (1024, 28, 16, 4096, 8, 2048, 40),
    "tiny": (64, 2, 4, 128, 4, 128, 16),
}
WARMUP = 10  # steps not timed: torch.compile's first graphs, the allocator and kernel choice settle


SPEC = """name = "mfu-{size}"
data {{
  train      = "corpus.txt"
  format     = text
  eval_split = 1%
  max_length = {seq}
  packing    = true
}}
tokenizer {{
  train      = true
  vocab_size = 32000
}}
strategy scratch {{
  architecture = llama
  hidden_size  = {hidden}
  layers       = {layers}
  heads        = {heads}
  intermediate_size = {intermediate}
  context      = {seq}
}}
train {{
  max_steps     = {steps}
  batch_size    = {micro}
  learning_rate = 3e-4
  warmup        = 2
  log_every     = 1
  seed          = 1
  compile       = {compile}
}}
output {{ dir = "run" }}
"""


def matmul_peak(device: str) -> float:
    """FLOP/s of large square matrix products in the training dtype (bf16 on a GPU, fp32 on CPU)."""
    import torch

    n, dtype = (8192, torch.bfloat16) if device == "cuda" else (1024, torch.float32)
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    started, count = time.perf_counter(), 10
    for _ in range(count):
        a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    return 2 * n**3 * count / (time.perf_counter() - started)


def corpus(path: Path, megabytes: float) -> None:
    """The shipped English corpus, paragraphs shuffled and repeated to the size asked for."""
    paragraphs = (ROOT / "data" / "general" / "python-docs.txt").read_text(encoding="utf-8").split("\n\n")
    rng, out, size = random.Random(1), [], 0
    while size < megabytes * 2**20:
        rng.shuffle(paragraphs)
        out += paragraphs
        size += sum(len(p) for p in paragraphs)
    path.write_text("\n\n".join(out) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="a small model on CPU, to check the pipeline")
    parser.add_argument("--eager", action="store_true", help="without torch.compile (the spec's default)")
    args = parser.parse_args()
    import torch

    from ftspec import api

    size = "tiny" if args.tiny else "0.5b"
    hidden, layers, heads, intermediate, micro, seq, steps = SIZES[size]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    work = Path(os.environ.get("FTSPEC_MFU_DIR", "/tmp/ftspec-mfu"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HOME", str(work / "hf"))
    os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_DATASETS_DISABLE_PROGRESS_BARS="1")
    peak = matmul_peak(device)
    print(
        f"{device}: {torch.cuda.get_device_name() if device == 'cuda' else 'cpu'}; "
        f"measured matmul peak {peak / 1e12:.1f} TFLOP/s",
        flush=True,
    )
    corpus(work / "corpus.txt", 0.5 if args.tiny else 6)
    spec = work / "mfu.ft"
    spec.write_text(
        SPEC.format(
            size=size,
            hidden=hidden,
            layers=layers,
            heads=heads,
            intermediate=intermediate,
            micro=micro,
            seq=seq,
            steps=steps,
            compile="false" if args.eager or args.tiny else "true",
        )
    )
    result = api.compile_spec(spec, work / "run", target="detect")
    if not result.ok:
        sys.exit("\n".join(f"{d.code} {d.message}" for d in result.diagnostics))
    api.write(result.files, result.out_dir)
    print(
        f"plan: precision {result.plan.hardware.precision}, {result.plan.hardware.target}; "
        f"estimated {result.plan.memory.per_device_gib} GiB per device",
        flush=True,
    )
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "train.py"], cwd=result.out_dir, capture_output=True, text=True)
    print(done.stdout[-3000:], done.stderr[-3000:] if done.returncode else "", flush=True)
    if done.returncode:
        sys.exit(f"train.py failed with exit code {done.returncode}")
    records = [json.loads(line) for line in (result.out_dir / "logs" / "metrics.jsonl").read_text().splitlines()]
    timed = [r for r in records if "loss_tokens" in r and r["step"] > WARMUP]
    tokens_per_s = sum(r["tokens_per_s"] * r["seconds"] for r in timed) / sum(r["seconds"] for r in timed)
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(result.out_dir / "model")
    from safetensors import safe_open

    with safe_open(str(result.out_dir / "model" / "model.safetensors"), "pt") as weights:
        params = sum(math.prod(weights.get_slice(name).get_shape()) for name in weights.keys())
    per_token = 6 * params + 12 * config.num_hidden_layers * config.hidden_size * seq
    mfu = per_token * tokens_per_s / peak
    report = {
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "torch": torch.__version__,
        "parameters": params,
        "sequence_length": seq,
        "micro_batch": micro,
        "precision": result.plan.hardware.precision,
        "matmul_peak_tflops": peak / 1e12,
        "tokens_per_s": tokens_per_s,
        "achieved_tflops": per_token * tokens_per_s / 1e12,
        "mfu": mfu,
        "wall_s": time.perf_counter() - started,
    }
    print(json.dumps(report, indent=2))
    print(
        f"MFU {mfu:.1%}: {per_token * tokens_per_s / 1e12:.1f} of {peak / 1e12:.1f} TFLOP/s, "
        f"{tokens_per_s:,.0f} tokens/s, {params / 1e6:.0f}M parameters"
    )
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "mfu.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
