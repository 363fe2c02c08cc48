"""Memory and speed at a large vocabulary: the generated train.py (chunked loss) against the HF Trainer and TRL.

A Llama-shaped model with Llama 3's 128,256-token vocabulary and a small body (hidden 256, 2 layers, untied head)
trains with LoRA on rows of 1,024 tokens, where the logits (1,024 x 128,256 fp32 = 525 MB per sequence) dominate a
step. Three contenders, each in its own process, at the same micro-batch, AdamW and learning rate: the generated
train.py, a Hugging Face `Trainer` (its own causal loss over the full logits) and TRL's `SFTTrainer` (packed,
padding-free). Printed: the peak resident set of each process, effective tokens/s after a warm-up step, and the
ratios; then the largest micro-batch (doubling from 1) each trains within a memory cap, enforced by a watchdog that
stops a run whose resident set passes the cap. The machine may be shared: the ratios come from the same run.

Run: python bench/large_vocab.py [--micro 2] [--steps 4] [--cap-gib 4] [--max-micro 8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

VOCAB, HIDDEN, LAYERS, SEQ = 128_256, 256, 2, 1024
WARMUP = 1  # optimizer steps not timed

# The two baselines read: model dir, data file, output dir, steps, micro-batch, learning rate.
TRAINER = r"""
import json, sys, time
from datasets import load_dataset
from peft import LoraConfig, get_peft_model
from transformers import (AutoModelForCausalLM, AutoTokenizer, DataCollatorForLanguageModeling, Trainer,
                          TrainerCallback, TrainingArguments)

model_dir, data_file, out, steps, micro, lr = sys.argv[1:7]
steps, micro = int(steps), int(micro)
tokenizer = AutoTokenizer.from_pretrained(model_dir)
rows = load_dataset("json", data_files=[data_file], split="train")
data = rows.map(lambda row: tokenizer(row["text"], truncation=True, max_length=1024), remove_columns=["text"])

class Clock(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 1:
            self.started = time.perf_counter()
    def on_train_end(self, args, state, control, **kwargs):
        self.seconds = time.perf_counter() - self.started

clock = Clock()
lora = LoraConfig(r=8, target_modules=["q_proj", "v_proj"])
model = get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir), lora)
args = TrainingArguments(output_dir=out, max_steps=steps, per_device_train_batch_size=micro, learning_rate=float(lr),
                         optim="adamw_torch", logging_steps=10**9, save_strategy="no", report_to=[], seed=1,
                         use_cpu=True, dataloader_num_workers=0, disable_tqdm=True)
collator = DataCollatorForLanguageModeling(tokenizer, mlm=False)
Trainer(model=model, args=args, train_dataset=data, data_collator=collator, callbacks=[clock]).train()
print(json.dumps({"tokens": (steps - 1) * micro * 1023, "seconds": clock.seconds}))
"""

TRL = r"""
import json, sys, time
from datasets import load_dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
from trl import SFTConfig, SFTTrainer

model_dir, data_file, out, steps, micro, lr = sys.argv[1:7]
steps, micro = int(steps), int(micro)

class Clock(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 1:
            self.started = time.perf_counter()
    def on_train_end(self, args, state, control, **kwargs):
        self.seconds = time.perf_counter() - self.started

clock = Clock()
args = SFTConfig(output_dir=out, max_steps=steps, per_device_train_batch_size=micro, learning_rate=float(lr),
                 optim="adamw_torch", logging_steps=10**9, save_strategy="no", report_to=[], seed=1, use_cpu=True,
                 dataloader_num_workers=0, disable_tqdm=True, max_length=1024, packing=True, packing_strategy="bfd",
                 padding_free=True)
trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(model_dir), args=args,
                     train_dataset=load_dataset("json", data_files=[data_file], split="train"),
                     processing_class=AutoTokenizer.from_pretrained(model_dir),
                     peft_config=LoraConfig(r=8, target_modules=["q_proj", "v_proj"]), callbacks=[clock])
trainer.train()
print(json.dumps({"tokens": (steps - 1) * micro * 1023, "seconds": clock.seconds}))
"""

SPEC = """name = "large-vocab"
base {{ model = "{model}" }}
data {{
  train      = "{data}"
  max_length = 1024
  eval_split = 2%  # one row: the baselines evaluate nothing
}}
strategy lora {{
  rank    = 8
  targets = [q_proj, v_proj]
  dropout = 0
}}
train {{
  max_steps     = {steps}
  batch_size    = {micro}
  learning_rate = 1e-4
  log_every     = 1
  seed          = 1
}}
output {{ dir = "run-{micro}" }}  # beside the spec
"""

# Runs a script and reports its process's largest resident set (Linux gives KiB) on the last line.
MEASURED = (
    "import resource, runpy, sys; sys.argv = sys.argv[1:]; sys.path.insert(0, '.');"
    "runpy.run_path(sys.argv[0], run_name='__main__');"
    "print('peak_kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
)


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def measured(command: list[str], cwd: Path, cap_mib: float | None) -> dict | None:
    """Run a script under MEASURED; its JSON result and peak RSS in MiB, or None if it passed the cap."""
    env = {**os.environ, "ACCELERATE_USE_CPU": "true"}
    process = subprocess.Popen(
        [sys.executable, "-c", MEASURED, *command],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    while process.poll() is None:
        if cap_mib is not None and rss_mib(process.pid) > cap_mib:
            process.kill()
            process.communicate()
            return None
        time.sleep(0.05)
    stdout, stderr = process.communicate()
    if process.returncode:
        raise RuntimeError(f"{command[0]} failed:\n{stderr[-3000:]}")
    *lines, last = stdout.strip().splitlines()
    result = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    return {**result, "peak_mib": int(last.split()[1]) / 1024}


def run_ftspec(work: Path, model: Path, data: Path, steps: int, micro: int, cap: float | None) -> dict | None:
    from ftspec import api

    spec = work / f"ftspec-{micro}.ft"
    spec.write_text(SPEC.format(model=model, data=data, steps=steps, micro=micro))
    result = api.compile_spec(spec, work / f"ftspec-{micro}", target="cpu")
    assert result.ok, [d.message for d in result.diagnostics]
    api.write(result.files, result.out_dir)
    outcome = measured(["train.py"], result.out_dir, cap)
    if outcome is None:
        return None
    metrics = (work / f"run-{micro}" / "logs" / "metrics.jsonl").read_text().splitlines()
    timed = [r for r in map(json.loads, metrics) if "loss_tokens" in r and r["step"] > WARMUP]
    chunk = json.loads((result.out_dir / "plan.json").read_text())["train"]["loss_chunk"]
    tokens, seconds = sum(r["loss_tokens"] for r in timed), sum(r["seconds"] for r in timed)
    return {**outcome, "tokens": tokens, "seconds": seconds, "loss_chunk": chunk}


def run_baseline(source: str, name: str):
    def run(work: Path, model: Path, data: Path, steps: int, micro: int, cap: float | None) -> dict | None:
        script = work / f"baseline_{name}.py"  # not trl.py: the script would shadow the package
        script.write_text(source)
        arguments = [script, model, data, work / f"{name}-{micro}", steps, micro, 1e-4]
        return measured([str(a) for a in arguments], work, cap)

    return run


CONTENDERS = {"ftspec": run_ftspec, "trainer": run_baseline(TRAINER, "trainer"), "trl": run_baseline(TRL, "trl")}


def build(work: Path) -> tuple[Path, Path]:
    """The model (random weights, 128,256-token vocabulary) with the tiny tokenizer, and rows past 1,024 tokens."""
    import tinymodels
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    tokenizer = tinymodels.tokenizer()
    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        intermediate_size=4 * HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=SEQ,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model_dir = work / "model"
    LlamaForCausalLM(config).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    words = (ROOT / "data" / "general" / "python-docs.txt").read_text(encoding="utf-8").split()
    data = work / "rows.jsonl"
    with data.open("w") as out:
        for row in range(64):
            start = (row * 997) % (len(words) - 1500)
            out.write(json.dumps({"text": " ".join(words[start : start + 1500])}) + "\n")
    return model_dir, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--micro", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--cap-gib", type=float, default=4.0)
    parser.add_argument("--max-micro", type=int, default=8)
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
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ.setdefault("HF_HOME", str(work / "hf"))
        model, data = build(work)
        print(
            f"model: Llama-shaped, vocabulary {VOCAB:,}, hidden {HIDDEN}, {LAYERS} layers, LoRA r8 on q/v; "
            f"rows of {SEQ} tokens"
        )
        print(f"same micro-batch {args.micro}, {args.steps} optimizer steps, the first {WARMUP} not timed")
        results = {}
        for name, run in CONTENDERS.items():
            results[name] = outcome = run(work, model, data, args.steps, args.micro, None)
            rate = outcome["tokens"] / outcome["seconds"]
            extra = f"  loss_chunk {outcome['loss_chunk']}" if "loss_chunk" in outcome else ""
            print(f"{name:<8} peak RSS {outcome['peak_mib']:>8,.0f} MiB  {rate:>8,.0f} effective tokens/s{extra}")
        ours = results["ftspec"]
        for name in ("trainer", "trl"):
            memory = ours["peak_mib"] / results[name]["peak_mib"]
            speed = (ours["tokens"] / ours["seconds"]) / (results[name]["tokens"] / results[name]["seconds"])
            print(f"ratio ftspec/{name}: peak RSS {memory:.2f}, effective tokens/s {speed:.2f}")
        cap = args.cap_gib * 1024
        print(
            f"largest micro-batch within {args.cap_gib:g} GiB of resident memory (2 optimizer steps, doubling from 1):"
        )
        for name, run in CONTENDERS.items():
            fits, micro = 0, 1
            while micro <= args.max_micro:
                outcome = run(work, model, data, 2, micro, cap)
                if outcome is None:
                    break
                fits, micro = micro, micro * 2
            reached = f" (the search stops at {args.max_micro})" if fits == args.max_micro else ""
            print(f"{name:<8} {fits}{reached}")


if __name__ == "__main__":
    main()
