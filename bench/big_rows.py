"""How long `ftspec check --data` takes on 50 MB data files, next to reading and parsing them with `json` alone.

Two files: one 52.8 MB JSON line cut short inside its string (the fault must be found without quadratic
scanning, and shown in a few hundred bytes), and 50 MB of well-formed rows of about 1 KB each. The baseline is
the plain-Python floor for the same bytes in the same process: read the file and `json.loads` each line (the
cut line's parse fails, as it must). The commands run in alternation, one of each per round, so a change in the
machine's load falls on both alike; the ratios come from the same run.

Run: python bench/big_rows.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPEC = 'name = "big"\nbase { model = "org/model" }\nstrategy lora { }\ndata { train = "%s" }\n'


def write_files(root: Path) -> dict[str, Path]:
    cut = root / "cut.jsonl"
    cut.write_text('{"text": "' + "lorem ipsum " * 4_400_000)  # no closing quote
    rows = root / "rows.jsonl"
    line = json.dumps({"text": "the quick brown fox jumps over the lazy dog. " * 22}) + "\n"
    rows.write_text(line * (50_000_000 // len(line)))
    specs = {}
    for name, data in (("cut", cut), ("rows", rows)):
        specs[name] = root / f"{name}.ft"
        specs[name].write_text(SPEC % data.name)
    return specs


def check_seconds(spec: Path) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "ftspec", "check", "--data", spec.name], cwd=spec.parent, capture_output=True, text=True
    )
    return time.perf_counter() - started, done.stderr


def parse_seconds(data: Path) -> float:
    started = time.perf_counter()
    with data.open(encoding="utf-8") as rows:
        for line in rows:
            try:
                json.loads(line)
            except json.JSONDecodeError:
                pass
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ftspec-big-rows-") as tmp:
        specs = write_files(Path(tmp))
        for name, spec in specs.items():
            data = spec.with_suffix(".jsonl")
            checks, parses = [], []
            for _ in range(args.rounds):
                seconds, stderr = check_seconds(spec)
                checks.append(seconds)
                parses.append(parse_seconds(data))
            size = data.stat().st_size / 1e6
            check, parse = statistics.median(checks), statistics.median(parses)
            print(
                f"{name:5} {size:5.1f} MB  check --data {check:6.2f} s (spread {max(checks) - min(checks):.2f})"
                f"  json read+parse {parse:6.2f} s  ratio {check / parse:5.2f}x  stderr {len(stderr.encode())} bytes"
            )
            if name == "cut":
                print("  " + next((line for line in stderr.splitlines() if "FT6" in line), "no FT6xx diagnostic!"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
