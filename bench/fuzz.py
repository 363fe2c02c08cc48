"""Run the fuzz properties of tests/test_fuzz.py for many examples; print counts, failures and speed.

Unlike the test, a failure does not stop the run: each one is recorded (the input and the error) and the run
goes on, so a long run reports every distinct problem it met. Exit status 1 when there were failures. An
example's time is its CPU time (the limits of tests/fuzzing.py), so a run can share the machine with others.

    python bench/fuzz.py 20000            # about N examples, split like the default test run
    python bench/fuzz.py 5000 --only mutants --seed 7
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import fuzzing  # noqa: E402  (it lives beside the tests that share it)
import fuzzing_data  # noqa: E402

BATCH = 5000


def run_kind(kind: str, examples: int, specs: Path, out: Path, rng_seed: int, show: int) -> tuple[Counter, list]:
    """Run one generator for ``examples`` examples; returns the counts and the failures."""
    counts: Counter = Counter()
    failures: list[tuple[str, str, str]] = []
    slowest: list[str] = []
    strategy = {
        "grammar": fuzzing.documents(),
        "mutants": fuzzing.mutants(),
        "overrides": fuzzing.overrides(),
        "data": fuzzing_data.data_files(),
        "nesting": fuzzing_data.nestings(),
    }[kind]

    def attempt(value) -> None:
        started = time.process_time()  # CPU time: on a shared machine, waiting for a core is not slowness
        try:
            if kind == "overrides":
                outcome = fuzzing.check_overrides(specs / fuzzing.SHIPPED[0], value, out)
            elif kind == "data":
                outcome = fuzzing_data.check_data_file(value, specs)
            else:
                outcome = fuzzing.check_text(value, specs, out, grammatical=kind == "grammar")
        except Exception as err:  # every failure is recorded, none stops the run
            summary = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:300]
            failures.append((summary, repr(value)[:2000], traceback.format_exc(limit=-4)))
            counts["failures"] += 1
            if len(failures) <= show:
                print(f"  FAIL {kind}: {summary}\n    input: {repr(value)[:300]}", file=sys.stderr)
            return
        finally:
            counts["examples"] += 1
            elapsed = time.process_time() - started
            if elapsed * 1000 > counts["slowest_ms"]:
                counts["slowest_ms"] = int(elapsed * 1000)
                slowest[:] = [repr(value)[:300]]
        if elapsed > fuzzing.SOFT_LIMIT:
            failures.append((f"slow: {elapsed:.1f} s of CPU time", repr(value)[:2000], ""))
            counts["failures"] += 1
        counts["compiled"] += outcome.compiled
        counts.update(set(outcome.errors))

    # Generation only: no shrinking (failures are kept as found) and no example database. Hypothesis remembers
    # every example of a run to avoid repeats, so a long run is cut into batches (each with its own seed) to keep
    # memory flat.
    for batch, start in enumerate(range(0, examples, BATCH)):
        run = settings(
            max_examples=min(BATCH, examples - start),
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )(given(strategy)(attempt))
        seed(rng_seed * 1_000_003 + batch)(run)()
    shown = slowest[0] if slowest else ""
    print(f"  slowest {kind} input ({counts['slowest_ms']} ms of CPU time): {shown}", file=sys.stderr)
    return counts, failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("examples", type=int, nargs="?", default=sum(fuzzing.DEFAULT_EXAMPLES.values()))
    parser.add_argument("--only", choices=sorted(fuzzing.DEFAULT_EXAMPLES), help="run one generator")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed (the same seed replays a run)")
    parser.add_argument("--show", type=int, default=5, help="failures printed as they happen, per generator")
    args = parser.parse_args()
    shares = fuzzing.split(args.examples)
    if args.only:
        shares = {args.only: args.examples}
    total: Counter = Counter()
    all_failures = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ftspec-fuzz-") as tmp:
        specs = fuzzing.make_workspace(Path(tmp) / "work")
        for kind, examples in shares.items():
            began = time.perf_counter()
            counts, failures = run_kind(kind, examples, specs, Path(tmp) / "out", args.seed, args.show)
            seconds = time.perf_counter() - began
            codes = Counter({k: n for k, n in counts.items() if k.startswith("FT")})
            print(
                f"{kind:9} {counts['examples']:7} examples {seconds:7.1f} s {counts['examples'] / seconds:6.1f}/s"
                f"  compiled {counts['compiled']:6}  failures {counts['failures']:4}"
                f"  slowest {counts['slowest_ms']} ms CPU  errors: "
                + ", ".join(f"{code} {n}" for code, n in codes.most_common(5))
            )
            total.update({"examples": counts["examples"], "failures": counts["failures"]})
            all_failures += [(kind, *failure) for failure in failures]
    seconds = time.perf_counter() - started
    memory = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"total     {total['examples']:7} examples {seconds:7.1f} s {total['examples'] / seconds:6.1f}/s"
        f"  failures {total['failures']}  peak memory {memory:.0f} MiB"
    )
    distinct: dict[tuple[str, str], tuple] = {}
    for kind, summary, value, trace in all_failures:
        distinct.setdefault((kind, summary), (value, trace))
    for (kind, summary), (value, trace) in distinct.items():
        print(f"\n--- {kind}: {summary}\ninput: {value}\n{trace}")
    return 1 if all_failures else 0


if __name__ == "__main__":
    sys.exit(main())
