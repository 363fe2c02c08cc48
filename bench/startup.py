"""How long `ftspec check` takes from a cold process, next to importing the training stack.

The compiler must stay well under 0.5 s because it never imports torch,
transformers or peft. A spec whose base is in the local hub cache is timed too: its check reads the
base's config, tokenizer files and safetensors header (the Llama-3-style fixture base, and the same base
with a byte-level BPE tokenizer.json grown to Llama 3's 128,256 tokens, which the `tokenizers` library loads).
Token counts are kept on disk by the hash of what they count (ftspec.planner.token_cache), so the same spec is
timed twice: with its count kept from the round before, as every check after the first finds it, and with the
count cache emptied before each run, as the first check after a change of the data or the tokenizer finds it.
Each command's CPU time is printed beside its wall time: on a shared machine it is the figure that the load
changes least. The machine may be shared: the commands run in alternation, one of each per round, so that a
change in the load falls on all of them alike, and the ratios come from the same run. ftspec's bytecode is
compiled first, as pip does when it installs a package (under PYTHONDONTWRITEBYTECODE every cold run would
otherwise compile ftspec's sources again, while the training stack's site-packages have theirs).
Run: python bench/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import random
import resource
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
sys.path.insert(0, str(ROOT))
from ftspec.planner import token_cache  # noqa: E402  (where the counts are kept)

LLAMA3_TOKENS = 128_256


CPU: dict[str, list[float]] = {}  # each command's CPU seconds (user and system), which other jobs change little


def timed(command: list[str], env: dict | None = None, forget: Path | None = None) -> tuple[float, float]:
    """Seconds ``command`` takes, and the CPU seconds it used; ``forget`` (a file) is removed first."""
    if forget is not None:
        forget.unlink(missing_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, env=env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def alternated(commands: dict[str, tuple], runs: int) -> dict[str, list[float]]:
    """Each command (command, env[, a file to remove first]) ``runs`` times, one of each per round; a first untimed
    round warms the file cache."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(runs + 1):
        for name, (command, env, *forget) in commands.items():
            seconds, cpu = timed(command, env, *forget)
            if round_:
                times[name].append(seconds)
                CPU.setdefault(name, []).append(cpu)
    return times


def grown_tokenizer(path: Path) -> None:
    """The fixture's byte-level BPE grown to Llama 3's 128,256 tokens by merges of the tokens it has.

    Every merge joins two tokens of the vocabulary into a third, so the `tokenizers` library loads the file
    (and `check` counts the data's tokens with it, as with the real Llama 3). Llama 3 lists 280,147 merges for
    its vocabulary; a merge here makes a token, so there are as many merges as new tokens (~128,000).
    """
    from tokenizers import Tokenizer

    tokenizer = json.loads(path.read_text())
    vocab, merges = tokenizer["model"]["vocab"], tokenizer["model"]["merges"]
    pieces, rng = [token for token in vocab if len(token) == 1], random.Random(0)
    while len(vocab) < LLAMA3_TOKENS - len(tokenizer["added_tokens"]):
        left, right = rng.choice(pieces), rng.choice(pieces)
        if left + right in vocab or len(left + right) > 12:
            continue
        vocab[left + right] = len(vocab)
        merges.append([left, right])
        pieces.append(left + right)
    path.write_text(json.dumps(tokenizer))
    Tokenizer.from_file(str(path))  # loads, as a real tokenizer does


def cached_base(home: Path, name: str, large: bool) -> None:
    """The fixture base as the hub cache stores `bench/<name>`; ``large`` grows its tokenizer to Llama 3's size."""
    repo = home / "hub" / f"models--bench--{name}"
    snapshot = repo / "snapshots" / COMMIT
    shutil.copytree(FIXTURE, snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    if large:
        grown_tokenizer(snapshot / "tokenizer.json")
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


def cached_specs(home: Path) -> dict[str, Path]:
    """Chat LoRA specs whose base is in the local hub cache under ``home``: the fixture, then Llama-3-sized."""
    cached_base(home, "llama3", large=False)
    cached_base(home, "llama3-large", large=True)
    (home / "chat.jsonl").write_text(
        json.dumps({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]})
    )
    specs = {}
    for name in ("llama3", "llama3-large"):
        specs[name] = spec = home / f"{name}.ft"
        spec.write_text(
            f'name = "{name}"\nbase {{ model = "bench/{name}" }}\n'
            'data {\n  train = "chat.jsonl"\n  format = chat\n}\nstrategy lora { targets = [q_proj, v_proj] }\n'
        )
    return specs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    compileall.compile_dir(ROOT / "ftspec", quiet=1)
    ftspec = [sys.executable, "-m", "ftspec"]
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch)
        specs = cached_specs(home)
        # ftspec's user cache of its own, kept across rounds: the parse tables, and the counts emptied for one row.
        hub = {**os.environ, "HF_HOME": str(home), "HF_HUB_OFFLINE": "1", "XDG_CACHE_HOME": str(home / "cache")}
        counts = home / "cache" / "ftspec" / token_cache.FILE
        large = [*ftspec, "check", str(specs["llama3-large"])]
        commands = {
            "python -c pass": ([sys.executable, "-c", "pass"], None),
            "ftspec check (one spec, with its base)": ([*ftspec, "check", "specs/cricket-coach.ft"], None),
            "ftspec check, base in the hub cache": ([*ftspec, "check", str(specs["llama3"])], hub),
            "  the same, Llama-3-sized tokenizer.json": (large, hub),
            "  the same, its token count not kept": (large, hub, counts),
            "ftspec plan, Llama-3-sized tokenizer.json": ([*ftspec, "plan", str(specs["llama3-large"])], hub),
            "ftspec compile": ([*ftspec, "compile", "specs/cricket-coach.ft", "-o", str(home / "out")], None),
            "import torch, transformers, peft, accelerate": (
                [sys.executable, "-c", "import torch, transformers, peft, accelerate"],
                None,
            ),
        }
        if (ROOT / "runs" / "cricket-coach" / "run.json").is_file():
            # An up-to-date run does all that `ftspec run` does before it launches (check, data check, the base
            # spec, hashes), then stops: its time is ftspec's own share of a run.
            commands["ftspec run, up to date (all work before a launch)"] = (
                [*ftspec, "run", "specs/cricket-coach.ft"],
                None,
            )
        times = alternated(commands, args.runs)
    for name, seconds in times.items():
        print(
            f"{name:<48} median {statistics.median(seconds):6.3f} s   min {min(seconds):6.3f}   max {max(seconds):6.3f}"
            f"   CPU {statistics.median(CPU[name]):6.3f} s"
        )
    median = {name: statistics.median(seconds) for name, seconds in times.items()}
    stack = median["import torch, transformers, peft, accelerate"]
    check = median["ftspec check (one spec, with its base)"]
    cached, large = median["ftspec check, base in the hub cache"], median["  the same, Llama-3-sized tokenizer.json"]
    first, plan = median["  the same, its token count not kept"], median["ftspec plan, Llama-3-sized tokenizer.json"]
    print(f"medians of {args.runs} runs each, in alternation")
    print(
        f"ftspec check cold start: {check:.3f} s; the training stack's import costs {stack / check:.1f}x that "
        "(goal 20x)"
    )
    print(
        f"ftspec check of a spec whose base is in the local cache: {cached:.3f} s ({stack / cached:.1f}x), "
        f"{large:.3f} s with a Llama-3-sized tokenizer ({stack / large:.1f}x) (goal < 0.5 s); in CPU time "
        f"{statistics.median(CPU['ftspec check, base in the hub cache']):.3f} s and "
        f"{statistics.median(CPU['  the same, Llama-3-sized tokenizer.json']):.3f} s"
    )
    print(
        f"  Llama-3-sized: {large / cached:.2f}x the fixture's check with its token count kept, {plan / cached:.2f}x "
        f"for `plan`; {first / cached:.2f}x when the tokenizer is loaded and the rows counted (the first check "
        "after a change of the data, its settings or the tokenizer)"
    )


if __name__ == "__main__":
    main()
