"""Model FLOP utilisation, peak memory and the longest sequence that trains on one GPU: the generated train.py
against TRL's packed SFTTrainer, on a Qwen2.5-0.5B-shaped model (151,936-token vocabulary), in the same run.

One prepared call on a GPU machine (nothing to download there; see README "Benchmarks"):

    python3 bench/gpu_mfu.py            # writes $OUT/mfu.json when $OUT is set

The model is Qwen2.5-0.5B's shape (hidden 896, 24 layers, 14 heads, 2 KV heads, MLP 4,864, tied embeddings,
q/k/v biases, 151,936-token vocabulary) built from a config with random weights, saved once as a local base that
both contenders load; the data is text in rows longer than the sequence, so that every sequence of both is full.
Each contender runs in its own process, with the same weights, data, sequence length, micro-batch, AdamW, learning
rate, schedule, gradient clipping, precision, attention and kernels (TRL's settings are read from ftspec's plan):

- ftspec: the train.py compiled for the detected GPU (`strategy full`, `train { compile = true }` unless `--eager`).
- TRL: `SFTTrainer` with `packing = True`, `packing_strategy = "bfd"` (best-fit decreasing) and `padding_free = True`
  (one flattened row per micro-batch, examples kept apart by position ids), `torch_compile` as ftspec's.

Figures: the card's bf16 matmul peak (8192^3 products), then per contender tokens/s after WARMUP steps, MFU with FLOPs
per token = 6 N + 12 L H S (N: every parameter, the tied head's matmul included; attention scores and values,
forward and backward), and peak memory (torch.cuda.max_memory_allocated, and reserved); then the longest sequence
each trains for SEARCH_STEPS optimizer steps at micro-batch 1, gradient checkpointing on for both, doubling from the
measured length until the GPU runs out of memory (or ftspec's plan refuses it, FT403) or `--longest-max`.
`--tiny` runs all of it with a small model on CPU (fp32; peak memory is the resident set), to check the pipeline
before a GPU is at hand. Earlier, on one H200 (torch 2.11, transformers 5.17, a 0.48B Llama shape with a 32,000-token
vocabulary, ftspec alone): 45.0% with torch.compile, 27.6% eager.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

SHAPES = {  # hidden, layers, heads, kv heads, intermediate, vocabulary; micro-batch, sequence, steps
    "qwen2.5-0.5b": (896, 24, 14, 2, 4864, 151_936, 8, 2048, 40),
    "tiny": (64, 2, 4, 2, 128, 4096, 2, 128, 8),
}
WARMUP = {"qwen2.5-0.5b": 10, "tiny": 3}  # steps not timed: compiled graphs, the allocator and kernel choice settle
SEARCH_STEPS = 3
LEARNING_RATE = 3e-4

SPEC = """name = "{name}"
base {{ model = "{model}" }}
data {{
  train      = "{data}"
  format     = text
  eval_split = 0%  # TRL holds nothing out either
  max_length = {seq}
  packing    = true
}}
strategy full {{ }}
train {{
  max_steps     = {steps}
  batch_size    = {micro}
  learning_rate = {lr}
  warmup        = 2
  log_every     = 1
  seed          = 1
  compile       = {compile}
  gradient_checkpointing = {checkpointing}
}}
output {{ dir = "{out}" }}
"""

# TRL's contender: model dir, data file, output dir, the shared settings as JSON.
TRL = r"""
import json, sys, time
import torch
from datasets import load_dataset
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
from trl import SFTConfig, SFTTrainer

model_dir, data_file, out, same = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
cuda = torch.cuda.is_available()

class Clock(TrainerCallback):
    started = seconds = None
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == same["warmup"]:
            torch.cuda.synchronize() if cuda else None
            self.started = time.perf_counter()
    def on_train_end(self, args, state, control, **kwargs):
        torch.cuda.synchronize() if cuda else None
        self.seconds = time.perf_counter() - self.started if self.started else None

clock, counted = Clock(), []
args = SFTConfig(
    output_dir=out, max_steps=same["steps"], per_device_train_batch_size=same["micro"], gradient_accumulation_steps=1,
    learning_rate=same["learning_rate"], lr_scheduler_type=same["scheduler"], warmup_steps=same["warmup_steps"],
    optim="adamw_torch", weight_decay=same["weight_decay"], max_grad_norm=same["max_grad_norm"],
    bf16=same["precision"] == "bf16", fp16=same["precision"] == "fp16", use_cpu=not cuda,
    gradient_checkpointing=same["gradient_checkpointing"], torch_compile=same["compile"],
    use_liger_kernel=same["liger"], max_length=same["seq"], packing=True, packing_strategy="bfd",
    padding_free=True, dataset_text_field="text", logging_steps=10**9, save_strategy="no", report_to=[], seed=1,
    data_seed=1, dataloader_num_workers=0, disable_tqdm=True,
    model_init_kwargs={"dtype": same["dtype"], "attn_implementation": same["attention"]},
)
trainer = SFTTrainer(model=model_dir, args=args, processing_class=AutoTokenizer.from_pretrained(model_dir),
                     train_dataset=load_dataset("json", data_files=[data_file], split="train"), callbacks=[clock])
collate = trainer.data_collator

def counting(features):
    batch = collate(features)
    counted.append(int(batch["input_ids"].numel()))
    return batch

trainer.data_collator = counting
trainer.train()
used = counted[same["warmup"]:same["steps"]]  # the timed steps' batches (the loader may fetch one ahead)
print(json.dumps({"tokens": sum(used), "seconds": clock.seconds}))
"""

# Runs a script in this process's place and prints its peak memory on the last line: the GPU's allocator's
# peaks where there is a GPU, else the resident set (Linux gives KiB).
MEASURED = (
    "import json, resource, runpy, sys; sys.argv = sys.argv[1:]; sys.path.insert(0, '.');"
    "runpy.run_path(sys.argv[0], run_name='__main__'); import torch; cuda = torch.cuda.is_available();"
    "rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024;"
    "print('peak', json.dumps({'allocated': torch.cuda.max_memory_allocated() if cuda else rss,"
    " 'reserved': torch.cuda.max_memory_reserved() if cuda else rss}))"
)


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


def build(work: Path, shape: str, positions: int) -> tuple[Path, int]:
    """The base: the shape's Qwen2 config with random weights (fp32 on disk) and the tests' small tokenizer,
    whose ids all lie inside the vocabulary; and its parameter count."""
    import tinymodels
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    hidden, layers, heads, kv_heads, intermediate, vocab = SHAPES[shape][:6]
    torch.manual_seed(0)
    tokenizer = tinymodels.tokenizer()
    config = Qwen2Config(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=positions,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = Qwen2ForCausalLM(config)
    directory = work / "base"
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory, sum(p.numel() for p in model.parameters())


def rows(path: Path, seq: int, count: int) -> Path:
    """``count`` rows of English text of ``seq`` words each (every word is a token or more: each row fills a
    sequence), cut from the shipped corpus at random places, the corpus read round again where it ends."""
    words = (ROOT / "data" / "general" / "python-docs.txt").read_text(encoding="utf-8").split()
    rng = random.Random(seq)
    with path.open("w", encoding="utf-8") as out:
        for _ in range(count):
            start = rng.randrange(len(words))
            text = " ".join(words[(start + i) % len(words)] for i in range(seq))
            out.write(json.dumps({"text": text}) + "\n")
    return path


def measured(command: list[str], cwd: Path) -> tuple[dict, dict] | None:
    """Run a script under MEASURED: its last JSON line and its peak memory, or None when it ran out of memory."""
    done = subprocess.run([sys.executable, "-c", MEASURED, *command], cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        if "out of memory" in done.stderr.lower() or "OutOfMemoryError" in done.stderr:
            return None
        raise RuntimeError(f"{command[0]} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    lines = done.stdout.strip().splitlines()
    peak = json.loads(lines[-1].split(" ", 1)[1])
    found = next((json.loads(line) for line in reversed(lines[:-1]) if line.startswith("{")), {})
    return found, peak


class Contenders:
    """Both contenders on one base and one data file per sequence length, in the same settings."""

    def __init__(self, work: Path, base: Path, shape: str):
        self.work, self.base, self.shape = work, base, shape

    def data(self, seq: int, count: int) -> Path:
        return rows(self.work / f"rows-{seq}-{count}.jsonl", seq, count)

    def prepared(self, seq: int, micro: int, steps: int, checkpointing: bool, compiled: bool):
        """ftspec's compiled spec for this run (written out when it compiles), and the settings TRL takes from its
        plan."""
        from ftspec import api

        name = f"ftspec-{seq}-{micro}-{steps}-{int(checkpointing)}{int(compiled)}"
        spec = self.work / f"{name}.ft"
        fields = dict(name=name, model=self.base, data=self.data(seq, micro * steps + 2), seq=seq, steps=steps)
        fields |= dict(micro=micro, lr=LEARNING_RATE, out=name, checkpointing=str(checkpointing).lower())
        spec.write_text(SPEC.format(**fields, compile=str(compiled).lower()))
        result = api.compile_spec(spec, self.work / name / "scripts", target="detect")
        if result.plan is None:
            raise RuntimeError("\n".join(f"{d.code} {d.message}" for d in result.diagnostics))
        if result.ok:
            api.write(result.files, result.out_dir)
        return result, self.same(result.plan, seq, micro)

    def ftspec(self, seq: int, micro: int, steps: int, checkpointing: bool, compiled: bool) -> dict:
        """Compile the spec for this run and train it: `status` (trained, out of memory, or refused by the plan),
        the figures, and `same`, the plan's settings for TRL."""
        result, same = self.prepared(seq, micro, steps, checkpointing, compiled)
        if not result.ok:
            refused = [f"{d.code} {d.message}" for d in result.diagnostics if d.is_error]
            if not refused[0].startswith("FT403"):
                raise RuntimeError("\n".join(refused))
            return {"status": "refused by the plan", "why": refused[0], "same": same}
        outcome = measured(["train.py"], result.out_dir)
        if outcome is None:
            return {"status": "out of memory", "same": same}
        metrics = (result.plan.output.dir / "logs" / "metrics.jsonl").read_text().splitlines()
        timed = [r for r in map(json.loads, metrics) if "tokens_per_s" in r and r["step"] > same["warmup"]]
        tokens, seconds = sum(r["tokens_per_s"] * r["seconds"] for r in timed), sum(r["seconds"] for r in timed)
        return {"status": "trained", "tokens": tokens, "seconds": seconds, "peak": outcome[1], "same": same}

    def same(self, plan, seq: int, micro: int) -> dict:
        """The settings TRL takes from ftspec's plan, so that both train alike."""
        train = plan.train
        return {
            "seq": seq,
            "micro": micro,
            "steps": train.max_steps,
            "warmup": min(WARMUP[self.shape], train.max_steps - 1),
            "learning_rate": train.learning_rate,
            "scheduler": train.scheduler,
            "warmup_steps": train.warmup_steps or 0,
            "weight_decay": train.weight_decay,
            "max_grad_norm": train.max_grad_norm,
            "precision": plan.hardware.precision,
            "dtype": plan.base.dtype,  # the dtype the weights load in (float32 master weights under autocast)
            "attention": plan.base.attention,
            "gradient_checkpointing": train.gradient_checkpointing,
            "compile": train.compile,
            "liger": train.kernels == "liger",
        }

    def trl(self, same: dict) -> dict:
        script = self.work / "sft_contender.py"  # not trl.py: the script would shadow the package
        script.write_text(TRL)
        data = self.data(same["seq"], same["micro"] * same["steps"] + 2)
        out = self.work / f"trl-{same['seq']}-{same['micro']}"
        outcome = measured([str(script), str(self.base), str(data), str(out), json.dumps(same)], self.work)
        if outcome is None:
            return {"status": "out of memory"}
        return {"status": "trained", **outcome[0], "peak": outcome[1]}


def longest(contenders: Contenders, start: int, limit: int) -> dict:
    """The longest sequence each contender trains at micro-batch 1 with gradient checkpointing, doubling from
    ``start`` up to ``limit``; and what stopped each."""
    found: dict = {}
    for name in ("ftspec", "trl"):
        seq, fits, stop = start, None, f"the search stops at {limit:,}"
        while seq <= limit:
            if name == "ftspec":
                outcome = contenders.ftspec(seq, 1, SEARCH_STEPS, checkpointing=True, compiled=False)
            else:
                outcome = contenders.trl(contenders.prepared(seq, 1, SEARCH_STEPS, True, False)[1])
            print(f"  {name:<7} sequence {seq:>7,}: {outcome['status']}", flush=True)
            if outcome["status"] != "trained":
                stop = f"{outcome['status']} at {seq:,}"
                break
            fits, seq = seq, seq * 2
        found[name] = {"longest": fits, "stopped": stop}
    return found


def figures(outcome: dict, per_token: float, peak: float) -> dict:
    if outcome["status"] != "trained":
        return {"status": outcome["status"]}
    rate = outcome["tokens"] / outcome["seconds"]
    return {
        "status": "trained",
        "tokens_per_s": rate,
        "achieved_tflops": per_token * rate / 1e12,
        "mfu": per_token * rate / peak,
        "peak_allocated_gib": outcome["peak"]["allocated"] / 2**30,
        "peak_reserved_gib": outcome["peak"]["reserved"] / 2**30,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="a small model on CPU, to check the pipeline")
    parser.add_argument("--eager", action="store_true", help="without torch.compile in the MFU runs")
    parser.add_argument("--longest-max", type=int, help="longest sequence tried (65,536; --tiny: 512)")
    parser.add_argument("--no-longest", action="store_true", help="only MFU and peak memory")
    args = parser.parse_args()
    import torch

    shape = "tiny" if args.tiny else "qwen2.5-0.5b"
    hidden, layers, heads, kv_heads, intermediate, vocab, micro, seq, steps = SHAPES[shape]
    limit = args.longest_max or (512 if args.tiny else 65_536)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    work = Path(os.environ.get("FTSPEC_MFU_DIR", "/tmp/ftspec-mfu"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HOME", str(work / "hf"))
    os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_DATASETS_DISABLE_PROGRESS_BARS="1")
    os.environ.update(TRANSFORMERS_OFFLINE="1", HF_HUB_DISABLE_PROGRESS_BARS="1", TOKENIZERS_PARALLELISM="false")
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    peak = matmul_peak(device)
    print(f"{device}: {name}; measured matmul peak {peak / 1e12:.3g} TFLOP/s", flush=True)
    base, params = build(work, shape, max(limit, seq))
    print(
        f"model: {shape} shape, {params / 1e6:.3g}M parameters, vocabulary {vocab:,}, hidden {hidden}, {layers} "
        f"layers, {heads} heads ({kv_heads} KV); micro-batch {micro} x {seq} tokens, {steps} steps, the first "
        f"{WARMUP[shape]} not timed",
        flush=True,
    )
    contenders = Contenders(work, base, shape)
    compiled = not (args.eager or args.tiny)
    ours = contenders.ftspec(seq, micro, steps, checkpointing=False, compiled=compiled)
    theirs = contenders.trl(ours["same"])
    per_token = 6 * params + 12 * layers * hidden * seq
    results = {"ftspec": figures(ours, per_token, peak), "trl": figures(theirs, per_token, peak)}
    for who, got in results.items():
        if got["status"] != "trained":
            print(f"{who:<7} {got['status']}")
            continue
        print(
            f"{who:<7} MFU {got['mfu']:6.1%}  {got['achieved_tflops']:7.3g} TFLOP/s  {got['tokens_per_s']:>10,.0f} "
            f"tokens/s  peak {got['peak_allocated_gib']:6.2f} GiB allocated, {got['peak_reserved_gib']:6.2f} reserved"
        )
    ratios = {}
    if all(got["status"] == "trained" for got in results.values()):
        ours_, theirs_ = results["ftspec"], results["trl"]
        ratios = {
            "mfu": ours_["mfu"] / theirs_["mfu"],
            "peak_allocated": ours_["peak_allocated_gib"] / theirs_["peak_allocated_gib"],
        }
        print(f"ratio ftspec/trl: MFU {ratios['mfu']:.2f}, peak memory {ratios['peak_allocated']:.2f} (goal <= 0.6)")
    print(f"MFU goal: >= 50% of the measured peak ({'met' if results['ftspec'].get('mfu', 0) >= 0.5 else 'not met'})")
    search = {}
    if not args.no_longest:
        print(f"longest sequence at micro-batch 1, gradient checkpointing, {SEARCH_STEPS} steps, doubling:", flush=True)
        search = longest(contenders, seq, limit)
        for who, got in search.items():
            print(f"{who:<7} {got['longest'] or 'none':>7}  ({got['stopped']})")
        if all(got["longest"] for got in search.values()):
            print(f"ratio ftspec/trl: longest sequence {search['ftspec']['longest'] / search['trl']['longest']:.2f}")
    report = {
        "device": name,
        "torch": torch.__version__,
        "shape": shape,
        "parameters": params,
        "vocabulary": vocab,
        "sequence_length": seq,
        "micro_batch": micro,
        "compile": compiled,
        "settings": ours["same"],
        "matmul_peak_tflops": peak / 1e12,
        "contenders": results,
        "ratios": ratios,
        "longest_sequence": search,
    }
    print(json.dumps(report, indent=2))
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "mfu.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
