"""Effective training throughput: the train.py ftspec generates against two baselines.

All three train the same tiny local Llama-shaped model on the same instruction data (prompt tokens
masked), with the same optimizer (AdamW), learning rate, effective batch size and number of
optimizer steps, one process each, in alternation, several times. The baselines: a Hugging Face
`Trainer` with a padding data collator, the way its documentation teaches, and TRL's `SFTTrainer`
with packing (best-fit decreasing, padding-free batches, the loss on completions only), what a user
who wants speed picks. Each trained model's held-out loss (mean per answer token, on rows none of
them trained on, computed the same way for all three) is printed after the runs.

Effective tokens are the non-padding tokens that receive a loss; throughput is counted over the
training loop after its first optimizer steps (warm-up), for both. The script prints, per run,
effective tokens/s, peak memory (the process's maximum resident set) and achieved FLOP/s as a
share of the matmul peak measured on this machine, then medians and spreads, and ends with

    ratio ftspec/trainer effective tokens/s: X
    ratio ftspec/trl-packed effective tokens/s: Y

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

TRL_BASELINE = r'''
"""TRL's SFTTrainer: prompt-completion rows, packed best-fit decreasing, padding-free, completion-only loss."""
import json, sys, time
from datasets import load_dataset
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
from trl import SFTConfig, SFTTrainer

model_dir, data_file, out, steps, micro, accum, lr, max_length, warmup = sys.argv[1:10]
steps, micro, accum, max_length, warmup = int(steps), int(micro), int(accum), int(max_length), int(warmup)
tokenizer = AutoTokenizer.from_pretrained(model_dir)
rows = load_dataset("json", data_files=[data_file], split="train")
rows = rows.map(lambda row: {"prompt": "### Question:\n" + row["question"] + "\n\n### Answer:\n",
                             "completion": row["answer"]}, remove_columns=rows.column_names)

class Clock(TrainerCallback):
    started = None
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == warmup:
            self.started = time.perf_counter()
    def on_train_end(self, args, state, control, **kwargs):
        self.seconds = time.perf_counter() - self.started

clock, counted = Clock(), []
# One packed row per micro-batch; the driver passes as max_length the tokens of `micro` average rows, so each
# optimizer step sees about as many tokens as the padding contenders' steps.
args = SFTConfig(output_dir=out, max_steps=steps, per_device_train_batch_size=1, gradient_accumulation_steps=accum,
                 learning_rate=float(lr), lr_scheduler_type="cosine", optim="adamw_torch", weight_decay=0.0,
                 max_grad_norm=1.0, logging_steps=10**9, save_strategy="no", report_to=[], seed=1, data_seed=1,
                 use_cpu=True, dataloader_num_workers=0, disable_tqdm=True, max_length=max_length,
                 packing=True, packing_strategy="bfd", padding_free=True, completion_only_loss=True)
trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(model_dir), args=args, train_dataset=rows,
                     processing_class=tokenizer, callbacks=[clock])
collate = trainer.data_collator

def counting(features):
    batch = collate(features)
    counted.append(int((batch["labels"][:, 1:] != -100).sum()))
    return batch

trainer.data_collator = counting
trainer.train()
trainer.save_model(out + "/model")
used = counted[warmup * accum:steps * accum]
print(json.dumps({"tokens": sum(used), "seconds": clock.seconds}))
'''

HELD_OUT = r'''
"""Mean loss per answer token of a trained model on held-out rows, the same prompt and masking for every model."""
import json, sys
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

model_dir, tokenizer_dir, data_file, max_length = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
total = count = 0.0
with torch.no_grad():
    for line in open(data_file):
        row = json.loads(line)
        prompt = tokenizer("### Question:\n" + row["question"] + "\n\n### Answer:\n")["input_ids"]
        answer = tokenizer(row["answer"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        ids = torch.tensor([(prompt + answer)[:max_length]])
        labels = torch.tensor([([-100] * len(prompt) + answer)[:max_length]])
        logits = model(input_ids=ids).logits[:, :-1].float()
        losses = torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels[:, 1:].flatten(), reduction="sum")
        total, count = total + losses.item(), count + int((labels[:, 1:] != -100).sum())
print(json.dumps({"loss": total / count}))
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
    done = subprocess.run([sys.executable, "-c", MEASURED, *command], cwd=cwd, capture_output=True, text=True, env=env)
    if done.returncode:
        raise RuntimeError(f"{command[0]} failed:\n{done.stderr[-3000:]}")
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
        "model_dir": next(path.parent for path in result.out_dir.rglob("model/config.json")),
    }


def run_baseline(name: str, source: str, max_length: int, work: Path, model: Path, data: Path, args) -> dict:
    script = work / f"baseline_{name}.py"  # not trl.py: the script would shadow the package
    script.write_text(source)
    out = work / name
    arguments = [model, data, out, args.steps, args.micro, args.accum, args.lr, max_length, WARMUP_STEPS]
    output, peak = measured([str(script), *map(str, arguments)], work)
    return {**json.loads(output.splitlines()[-1]), "peak_mib": peak, "model_dir": out / "model"}


def run_trainer(work: Path, model: Path, data: Path, args) -> dict:
    return run_baseline("trainer", BASELINE, args.max_length, work, model, data, args)


def run_trl(work: Path, model: Path, data: Path, args) -> dict:
    return run_baseline("trl", TRL_BASELINE, packed_length(model, data, args), work, model, data, args)


def packed_length(model: Path, data: Path, args) -> int:
    """Tokens of `micro` average rows (truncated as the contenders truncate), and never less than one full row."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    lengths = []
    for line in data.read_text().splitlines():
        row = json.loads(line)
        text = "### Question:\n" + row["question"] + "\n\n### Answer:\n" + row["answer"]
        lengths.append(min(len(tokenizer(text)["input_ids"]) + 1, args.max_length))
    return max(round(args.micro * statistics.mean(lengths)), args.max_length)


def held_out_loss(work: Path, model_dir: Path, tokenizer_dir: Path, held_out: Path, args) -> float:
    script = work / "held_out.py"
    script.write_text(HELD_OUT)
    command = [str(script), str(model_dir), str(tokenizer_dir), str(held_out), str(args.max_length)]
    output, _ = measured(command, work)
    return json.loads(output.splitlines()[-1])["loss"]


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
    sys.stdout.reconfigure(line_buffering=True)  # each line as it comes, also into a file
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
        held_out = work / "held-out.jsonl"
        write_data(held_out, args.data, 60, random.Random(SEED + 1))
        peak = matmul_peak()
        print(
            f"machine: {os.cpu_count()} CPU threads; fp32 matmul peak {peak / 1e9:.0f} GFLOP/s; "
            f"model {params / 1e6:.2f}M parameters; {args.data}-length data, {args.rows} rows"
        )
        print(
            f"each run: {args.steps} optimizer steps of {args.micro} x {args.accum}, "
            f"max_length {args.max_length}; first {WARMUP_STEPS} steps not timed"
        )
        results, losses = {"ftspec": [], "trainer": [], "trl-packed": []}, {}
        runners = {"ftspec": run_ftspec, "trainer": run_trainer, "trl-packed": run_trl}
        for round_ in range(args.rounds):
            for name, runner in runners.items():
                outcome = runner(work, model, data, args)
                rate = outcome["tokens"] / outcome["seconds"]
                mfu = 6 * params * rate / peak  # 6N FLOPs per trained token (attention left out)
                results[name].append(rate)
                if round_ == args.rounds - 1:
                    losses[name] = held_out_loss(work, outcome["model_dir"], model, held_out, args)
                print(
                    f"round {round_ + 1} {name:<10} {rate:>10,.0f} effective tokens/s  peak RSS "
                    f"{outcome['peak_mib']:,.0f} MiB  {mfu:.1%} of matmul peak"
                )
        medians = {name: statistics.median(rates) for name, rates in results.items()}
        for name, rates in results.items():
            spread = (max(rates) - min(rates)) / medians[name]
            print(f"{name:<10} median {medians[name]:,.0f} effective tokens/s (spread {spread:.0%} of the median)")
        for name, loss in losses.items():
            relative = loss / losses["ftspec"] - 1
            print(f"{name:<10} held-out loss after the last round {loss:.4f} ({relative:+.1%} against ftspec's)")
        print(f"ratio ftspec/trainer effective tokens/s: {medians['ftspec'] / medians['trainer']:.2f}")
        print(f"ratio ftspec/trl-packed effective tokens/s: {medians['ftspec'] / medians['trl-packed']:.2f}")


if __name__ == "__main__":
    main()
