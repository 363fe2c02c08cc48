"""How long `ftspec check` takes from a cold process, next to importing the training stack.

The compiler must stay well under 0.5 s because it never imports torch,
transformers or peft. A spec whose base is in the local hub cache is timed too: its check reads the
base's config, tokenizer files and safetensors header (the Llama-3-style fixture base, and the same base
with a synthetic tokenizer.json the size of Llama 3's: 128,256 tokens and 280,147 merges, ~9 MB).
Run: python bench/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "diagnostics" / "models" / "llama3-instruct"
COMMIT = "0" * 40
LLAMA3_TOKENS, LLAMA3_MERGES = 128_256, 280_147


def wall(command: list[str], runs: int, env: dict | None = None) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - started)
    return times


def cached_base(home: Path, name: str, large: bool) -> None:
    """The fixture base as the hub cache stores `bench/<name>`; ``large`` grows its tokenizer to Llama 3's size."""
    repo = home / "hub" / f"models--bench--{name}"
    snapshot = repo / "snapshots" / COMMIT
    shutil.copytree(FIXTURE, snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    if large:
        tokenizer = json.loads((snapshot / "tokenizer.json").read_text())
        vocab = tokenizer["model"]["vocab"]
        vocab.update({f"tok{i}": i for i in range(len(vocab), LLAMA3_TOKENS - len(tokenizer["added_tokens"]))})
        tokenizer["model"]["merges"] = [["t", f"ok{i}"] for i in range(LLAMA3_MERGES)]
        (snapshot / "tokenizer.json").write_text(json.dumps(tokenizer))
        # Llama 3's 32 layers, named in an index (the shards' headers would add four small reads).
        config = json.loads((snapshot / "config.json").read_text()) | {"vocab_size": LLAMA3_TOKENS}
        (snapshot / "config.json").write_text(json.dumps(config))
        (snapshot / "model.safetensors").unlink()
        names = ["model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"]
        for layer in range(32):
            names += [f"model.layers.{layer}.self_attn.{p}_proj.weight" for p in "qkvo"]
            names += [f"model.layers.{layer}.mlp.{p}_proj.weight" for p in ("gate", "up", "down")]
        index = {"weight_map": {name: "model-00001-of-00004.safetensors" for name in names}}
        (snapshot / "model.safetensors.index.json").write_text(json.dumps(index))


def cached_check(runs: int) -> tuple[list[float], list[float]]:
    """`ftspec check` of a chat LoRA spec whose base is in the local hub cache: the fixture, then Llama-3-sized."""
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch)
        cached_base(home, "llama3", large=False)
        cached_base(home, "llama3-large", large=True)
        (home / "chat.jsonl").write_text(
            json.dumps({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]})
        )
        env = {**os.environ, "HF_HOME": str(home), "HF_HUB_OFFLINE": "1"}
        times = []
        for name in ("llama3", "llama3-large"):
            spec = home / f"{name}.ft"
            spec.write_text(
                f'name = "{name}"\nbase {{ model = "bench/{name}" }}\n'
                'data {\n  train = "chat.jsonl"\n  format = chat\n}\nstrategy lora { targets = [q_proj, v_proj] }\n'
            )
            times.append(wall([sys.executable, "-m", "ftspec", "check", str(spec)], runs, env))
        return times[0], times[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    check = wall([sys.executable, "-m", "ftspec", "check", "specs/cricket-coach.ft"], args.runs)
    cached, cached_large = cached_check(args.runs)
    compile_ = wall(
        [sys.executable, "-m", "ftspec", "compile", "specs/cricket-coach.ft", "-o", "/tmp/ftspec-bench"], args.runs
    )
    bare = wall([sys.executable, "-c", "pass"], args.runs)
    stack = wall([sys.executable, "-c", "import torch, transformers, peft, accelerate"], max(2, args.runs // 3))
    finished = (ROOT / "runs" / "cricket-coach" / "run.json").is_file()
    # An up-to-date run does all that `ftspec run` does before it launches (check, data check, the base spec,
    # hashes), then stops: its time is ftspec's own share of a run.
    run = wall([sys.executable, "-m", "ftspec", "run", "specs/cricket-coach.ft"], args.runs) if finished else None
    rows = [
        ("python -c pass", bare),
        ("ftspec check (one spec, with its base)", check),
        ("ftspec check, base in the hub cache", cached),
        ("  the same, Llama-3-sized tokenizer.json", cached_large),
        ("ftspec compile", compile_),
        ("import torch, transformers, peft, accelerate", stack),
    ]
    if run is not None:
        rows.insert(3, ("ftspec run, up to date (all work before a launch)", run))
    for name, times in rows:
        print(f"{name:<48} median {statistics.median(times):6.3f} s   min {min(times):6.3f}   max {max(times):6.3f}")
    ratio = statistics.median(stack) / statistics.median(check)
    print(
        f"ftspec check cold start: {statistics.median(check):.3f} s (target < 0.5 s); "
        f"the training stack's import costs {ratio:.1f}x that"
    )
    print(
        f"ftspec check of a spec whose base is in the local cache: {statistics.median(cached):.3f} s, "
        f"{statistics.median(cached_large):.3f} s with a Llama-3-sized tokenizer (target < 0.5 s)"
    )


if __name__ == "__main__":
    main()
