"""Effective training throughput: the train.py ftspec generates against a Hugging Face Trainer baseline.

Both train the same tiny local Llama-shaped model on the same instruction data (prompt tokens
masked), with the same optimizer (AdamW), learning rate, effective batch size and number of
optimizer steps, one process each, in alternation, several times. The baseline is written the way
the Hugging Face documentation teaches: `Trainer` with a padding data collator.

Effective tokens are the non-padding tokens that receive a loss; throughput is counted over the
training loop after its first optimizer steps (warm-up), for both. The script prints, per run,
effective tokens/s, peak memory (the process's maximum resident set) and achieved FLOP/s as a
share of the matmul peak measured on this machine, then medians and spreads, and ends with

    ratio ftspec/trainer effective tokens/s: X

Run: python bench/throughput.py [--data variable|fixed] [--rounds 3] [--steps 30]
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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

WARMUP_STEPS = 3  # excluded from the timing of both contenders
SEED = 1

BASELINE = r'''
"""The Hugging Face Trainer baseline: padding collator, prompt tokens masked with -100."""
import json, sys, time
import torch
from datasets import load_dataset
from transformers import (AutoModelForCausalLM, AutoTokenizer, DataCollatorForSeq2Seq, Trainer,
                          TrainerCallback, TrainingArguments)

model_dir, data_file, out, steps, micro, accum, lr, max_length, warmup = sys.argv[1:10]
steps, micro, accum, max_length, warmup = int(steps), int(micro), int(accum), int(max_length), int(warmup)
tokenizer = AutoTokenizer.from_pretrained(model_dir)
rows = load_dataset("json", data_files=[data_file], split="train")

def encode(row):
    prompt = tokenizer("### Question:\n" + row["question"] + "\n\n### Answer:\n")["input_ids"]
    answer = tokenizer(row["answer"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    ids = (prompt + answer)[:max_length]
    labels = ([-100] * len(prompt) + answer)[:max_length]
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}

data = rows.map(encode, remove_columns=rows.column_names)
counted = []

class Counting(DataCollatorForSeq2Seq):
    def __call__(self, features, return_tensors=None):
        batch = super().__call__(features, return_tensors)
        counted.append(int((batch["labels"][:, 1:] != -100).sum()))
        return batch

class Clock(TrainerCallback):
    started = None
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == warmup:
            self.started = time.perf_counter()
    def on_train_end(self, args, state, control, **kwargs):
        self.seconds = time.perf_counter() - self.started

clock = Clock()
model = AutoModelForCausalLM.from_pretrained(model_dir)
args = TrainingArguments(output_dir=out, max_steps=steps, per_device_train_batch_size=micro,
                         gradient_accumulation_steps=accum, learning_rate=float(lr), lr_scheduler_type="cosine",
                         optim="adamw_torch", weight_decay=0.0, max_grad_norm=1.0, logging_steps=10**9,
                         save_strategy="no", report_to=[], seed=1, data_seed=1, use_cpu=True,
                         dataloader_num_workers=0, disable_tqdm=True)
trainer = Trainer(model=model, args=args, train_dataset=data,
                  data_collator=Counting(tokenizer, padding=True, label_pad_token_id=-100), callbacks=[clock])
trainer.train()
trainer.save_model(out + "/model")
# The batches of the timed steps (the loader may have fetched one more ahead: it is not counted).
used = counted[warmup * accum:steps * accum]
print(json.dumps({"tokens": sum(used), "seconds": clock.seconds}))
'''


def corpus_words() -> list[str]:
    text = (ROOT / "data" / "general" / "python-docs.txt").read_text(encoding="utf-8")
    return text.split()


def write_data(path: Path, kind: str, rows: int, rng: random.Random) -> None:
    """Instruction rows: short prompts; answers 20-512 tokens long (log-uniform), or all the same length."""
    words = corpus_words()
    with path.open("w") as out:
        for _ in range(rows):
            prompt_words = rng.randint(8, 40)
            # Roughly one and a half tokens per word under the tiny tokenizer.
            answer_tokens = int(round(2 ** rng.uniform(4.3, 9))) if kind == "variable" else 200
            answer_words = max(3, answer_tokens * 2 // 3)
            start = rng.randrange(len(words) - 600)
            question = " ".join(words[start : start + prompt_words])
            answer = " ".join(words[start + prompt_words : start + prompt_words + answer_words])
            out.write(json.dumps({"question": question, "answer": answer}) + "\n")


SPEC = """name = "throughput"
base {{ model = "{model}" }}
data {{
  train      = "{data}"
  format     = instruction
  prompt     = "question"
  response   = "answer"
  eval_split = 2%
  max_length = {max_length}
}}
strategy full {{ }}
train {{
  max_steps     = {steps}
  batch_size    = {micro}
  grad_accum    = {accum}
  learning_rate = {lr}
  scheduler     = cosine
  log_every     = 1
  seed          = {seed}
}}
output {{ dir = "run" }}
"""


# Runs a script and reports its process's largest resident set (Linux gives KiB) on the last line.
MEASURED = (
    "import resource, runpy, sys; sys.argv = sys.argv[1:]; sys.path.insert(0, '.');"
    "runpy.run_path(sys.argv[0], run_name='__main__');"
    "print('peak_kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
)


def measured(command: list[str], cwd: Path, env: dict | None = None) -> tuple[str, float]:
    """Run a Python script under MEASURED; its output and its peak memory in MiB."""
    done = subprocess.run(
        [sys.executable, "-c", MEASURED, *command], cwd=cwd, check=True, capture_output=True, text=True, env=env
    )
    *lines, last = done.stdout.strip().splitlines()
    return "\n".join(lines), int(last.split()[1]) / 1024


def run_ftspec(work: Path, model: Path, data: Path, args) -> dict:
    from ftspec import api

    spec = work / "throughput.ft"
    spec.write_text(
        SPEC.format(
            model=model,
            data=data,
            max_length=args.max_length,
            steps=args.steps,
            micro=args.micro,
            accum=args.accum,
            lr=args.lr,
            seed=SEED,
        )
    )
    result = api.compile_spec(spec, work / "run", target="cpu")
    assert result.ok, [d.message for d in result.diagnostics]
    api.write(result.files, result.out_dir)
    _, peak = measured(["train.py"], result.out_dir, {**os.environ, "ACCELERATE_USE_CPU": "true"})
    records = [json.loads(line) for line in (result.out_dir / "logs" / "metrics.jsonl").read_text().splitlines()]
    timed = [r for r in records if "loss_tokens" in r and r["step"] > WARMUP_STEPS]
    return {
        "tokens": sum(r["loss_tokens"] for r in timed),
        "seconds": sum(r["seconds"] for r in timed),
        "peak_mib": peak,
    }


def run_trainer(work: Path, model: Path, data: Path, args) -> dict:
    script = work / "baseline.py"
    script.write_text(BASELINE)
    output, peak = measured(
        [
            str(script),
            str(model),
            str(data),
            str(work / "trainer"),
            str(args.steps),
            str(args.micro),
            str(args.accum),
            str(args.lr),
            str(args.max_length),
            str(WARMUP_STEPS),
        ],
        work,
    )
    return {**json.loads(output.splitlines()[-1]), "peak_mib": peak}


def matmul_peak() -> float:
    """FLOP/s of a 2048 x 2048 fp32 matrix product on this machine (the precision both contenders train in)."""
    import torch

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    for _ in range(3):
        a @ b
    started, count = time.perf_counter(), 10
    for _ in range(count):
        a @ b
    return 2 * 2048**3 * count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", choices=("variable", "fixed"), default="variable")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--micro", type=int, default=8)
    parser.add_argument("--accum", type=int, default=1)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--rows", type=int, default=600)
    args = parser.parse_args()
    os.environ.update(
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        HF_DATASETS_DISABLE_PROGRESS_BARS="1",
        TOKENIZERS_PARALLELISM="false",
    )
    import tinymodels
    from transformers import AutoModelForCausalLM

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ.setdefault("HF_HOME", str(work / "hf"))
        model = tinymodels.causal_model(work / "model", hidden=128, steps=0)
        params = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(model).parameters())
        data = work / "data.jsonl"
        write_data(data, args.data, args.rows, random.Random(SEED))
        peak = matmul_peak()
        print(
            f"machine: {os.cpu_count()} CPU threads; fp32 matmul peak {peak / 1e9:.0f} GFLOP/s; "
            f"model {params / 1e6:.2f}M parameters; {args.data}-length data, {args.rows} rows"
        )
        print(
            f"each run: {args.steps} optimizer steps of {args.micro} x {args.accum}, "
            f"max_length {args.max_length}; first {WARMUP_STEPS} steps not timed"
        )
        results = {"ftspec": [], "trainer": []}
        for round_ in range(args.rounds):
            for name, runner in (("ftspec", run_ftspec), ("trainer", run_trainer)):
                outcome = runner(work, model, data, args)
                rate = outcome["tokens"] / outcome["seconds"]
                mfu = 6 * params * rate / peak  # 6N FLOPs per trained token (attention left out)
                results[name].append(rate)
                print(
                    f"round {round_ + 1} {name:<8} {rate:>10,.0f} effective tokens/s  peak RSS "
                    f"{outcome['peak_mib']:,.0f} MiB  {mfu:.1%} of matmul peak"
                )
        medians = {name: statistics.median(rates) for name, rates in results.items()}
        for name, rates in results.items():
            spread = (max(rates) - min(rates)) / medians[name]
            print(f"{name:<8} median {medians[name]:,.0f} effective tokens/s (spread {spread:.0%} of the median)")
        print(f"ratio ftspec/trainer effective tokens/s: {medians['ftspec'] / medians['trainer']:.2f}")


if __name__ == "__main__":
    main()
