"""Where a tiny model's training step goes on a CPU, and how many threads `ftspec run` gives it.

Two parts, both measured in this run:

1. Threads. `ftspec run` and the emitted launch.sh start train.py under `accelerate launch` with the
   generated accelerate_config.yaml. A probe started the same way (with the config `ftspec run`
   writes on a CPU, and with generated/'s) prints the OMP_NUM_THREADS and torch.get_num_threads()
   it gets, beside a probe started with plain `python`.
2. The step. One full optimizer step (forward, loss, backward, clipping, AdamW) of the model shape
   specs/tiny-base.ft had until 2026-12-02 (vocabulary 4,096, MLP 512) and of the test model STACK.md's
   throughput figure is for, whose vocabulary and MLP tiny-base has now, with the loss
   through the head in three ways (LOSSES), on 1 and 2 threads, in alternation, several rounds.
   Printed per case: the step's phases in process CPU time, tokens per CPU-second and per
   wall-second (best round), and the ratio of its CPU time per token to the old tiny-base's with
   checkpointed chunks on the first thread count. On a loaded machine wall time says little; one
   thread's CPU time is disturbed less by other processes (though they still share its caches).

Run: python bench/tiny_steps.py [--rounds 2] [--steps 3] [--batch 16] [--length 256] [--threads 1,2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SHAPES = {  # name: Llama shape
    "old tiny-base": {"vocab_size": 4096, "hidden_size": 128, "intermediate_size": 512, "num_key_value_heads": 4},
    "STACK.md test model": {"vocab_size": 1024, "hidden_size": 128, "intermediate_size": 256, "num_key_value_heads": 2},
}
PROBE = "import os, torch\nprint(os.environ.get('OMP_NUM_THREADS'), torch.get_num_threads())\n"


def thread_probe() -> None:
    """OMP_NUM_THREADS and torch's thread count under `accelerate launch` with tiny-base's config, and plain.

    Two configs: the one `ftspec run` writes on a CPU (target cpu, `use_cpu: true`) and the one in
    generated/ (`use_cpu: false`), with which accelerate passes OMP_NUM_THREADS=1 unless it is set.
    """
    from ftspec import api

    env = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    env["ACCELERATE_USE_CPU"] = "true"  # what ftspec run adds on a CPU
    launched = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", "accelerate_config.yaml"]
    runs = [("ftspec run (target cpu)", "cpu", launched), ("generated/ launch.sh", None, launched)]
    runs.append(("python train.py", "cpu", [sys.executable]))
    for how, target, start in runs:
        with tempfile.TemporaryDirectory() as tmp:
            result = api.compile_spec(ROOT / "specs" / "tiny-base.ft", Path(tmp) / "run", target=target)
            assert result.ok, [d.message for d in result.diagnostics]
            api.write(result.files, result.out_dir)
            (result.out_dir / "probe.py").write_text(PROBE)
            out = subprocess.run(
                [*start, "probe.py"], cwd=result.out_dir, env=env, capture_output=True, text=True, check=True
            )
            omp, threads = out.stdout.split()[-2:]
            print(f"threads under {how:<24}: OMP_NUM_THREADS={omp}, torch.get_num_threads()={threads}")
    print(f"cores: {os.cpu_count()}")


LOSSES = {  # name: how the loss crosses the output head
    "checkpointed": "8192-position chunks under torch.utils.checkpoint, the head run again in backward",
    "one chunk": "train.py since issue 21: no checkpoint when one chunk holds every position",
    "plain": "the model's full logits, then cross-entropy",
}


def make_step(shape: dict, loss_mode: str, batch: int, length: int):
    """A function running one optimizer step and returning its phases' process CPU seconds."""
    import torch
    import torch.nn.functional as F
    from torch.utils.checkpoint import checkpoint
    from transformers import AutoModelForCausalLM, LlamaConfig

    torch.manual_seed(0)
    config = LlamaConfig(
        **shape, num_hidden_layers=4, num_attention_heads=4, max_position_embeddings=length, tie_word_embeddings=True
    )
    model = AutoModelForCausalLM.from_config(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ids = torch.randint(0, shape["vocab_size"], (batch, length))
    # Packed rows: three examples per row, positions restarting, as train.py's packing makes them.
    cuts = [length // 4, length // 2, length - length // 4 - length // 2]
    positions = torch.cat([torch.arange(n) for n in cuts]).expand(batch, length)
    head = model.get_output_embeddings()

    def losses(hidden, labels):
        return F.cross_entropy(head(hidden).float(), labels, reduction="none")

    def step() -> list[float]:
        clock = [time.process_time()]
        if loss_mode != "plain":
            out = model(
                input_ids=ids, position_ids=positions, use_cache=False, output_hidden_states=True, logits_to_keep=1
            )
            clock.append(time.process_time())
            hidden, labels = out.hidden_states[-1][:, :-1].flatten(0, 1), ids[:, 1:].flatten()
            pieces = zip(hidden.split(8192), labels.split(8192), strict=True)
            if loss_mode == "one chunk" and len(hidden) <= 8192:
                loss = torch.cat([losses(h, y) for h, y in pieces]).sum()
            else:
                loss = torch.cat([checkpoint(losses, h, y, use_reentrant=False) for h, y in pieces]).sum()
        else:
            out = model(input_ids=ids, position_ids=positions, use_cache=False)
            clock.append(time.process_time())
            loss = F.cross_entropy(out.logits[:, :-1].flatten(0, 1).float(), ids[:, 1:].flatten(), reduction="sum")
        clock.append(time.process_time())
        loss.backward()
        clock.append(time.process_time())
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        clock.append(time.process_time())
        return [b - a for a, b in zip(clock, clock[1:], strict=False)]

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per case and round, after one warm-up")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--threads", default="1,2", help="thread counts to time, comma-separated")
    args = parser.parse_args()
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    thread_probe()
    import torch

    cases = {
        (shape, loss, threads): make_step(SHAPES[shape], loss, args.batch, args.length)
        for shape in SHAPES
        for loss in LOSSES
        for threads in map(int, args.threads.split(","))
    }
    tokens = args.batch * args.length
    best: dict[tuple, tuple[float, list[float], float]] = {}
    for _ in range(args.rounds):
        for key, step in cases.items():
            torch.set_num_threads(key[2])
            step()
            began = time.perf_counter()
            phases = [sum(parts) / args.steps for parts in zip(*(step() for _ in range(args.steps)), strict=True)]
            wall = (time.perf_counter() - began) / args.steps
            if key not in best or sum(phases) < best[key][0]:
                best[key] = (sum(phases), phases, wall)
    print(f"steps of {args.batch} x {args.length} tokens; phases in CPU seconds: forward, loss, backward, clip+AdamW")
    for loss, how in LOSSES.items():
        print(f"  {loss}: {how}")
    reference = best[("old tiny-base", "checkpointed", int(args.threads.split(",")[0]))][0]
    for (shape, loss, threads), (cpu, phases, wall) in best.items():
        split = ", ".join(f"{part:.3f}" for part in phases)
        print(
            f"{shape:<20} {loss:<12} {threads} thread(s): {split} | {tokens / cpu:>7,.0f} tokens/CPU-s"
            f" | {tokens / wall:>7,.0f} tokens/s wall | CPU time per token / old tiny-base checkpointed"
            f" {cpu / reference:.2f}"
        )


if __name__ == "__main__":
    main()
