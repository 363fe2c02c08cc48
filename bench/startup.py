"""How long `ftspec check` takes from a cold process, next to importing the training stack.

The compiler must stay well under 0.5 s because it never imports torch,
transformers or peft. Run: python bench/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def wall(command: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    check = wall([sys.executable, "-m", "ftspec", "check", "specs/cricket-coach.ft"], args.runs)
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


if __name__ == "__main__":
    main()
