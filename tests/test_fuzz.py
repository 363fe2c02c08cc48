"""Property-based fuzzing of the whole compiler, through the path the CLI takes (`check`, then `compile`).

For every input — specs written from the grammar, broken copies of the shipped specs, `--set` overrides — the
compiler answers with no errors or with errors that point into the file (see `fuzzing.UNLOCATED` for the few
that may not), never with an exception or a hang, and every Python file it compiles parses.

The default run is 3,200 examples (about 60 s on two cores). FTSPEC_FUZZ_EXAMPLES=N runs about N
in total, split the same way; `bench/fuzz.py` runs the same properties outside pytest and reports speed.
Run with `-s` to see the counts.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from datetime import timedelta

import pytest
from fuzzing import (
    DEFAULT_EXAMPLES,
    SHIPPED,
    SOFT_LIMIT,
    Hang,
    check_overrides,
    check_text,
    documents,
    make_workspace,
    mutants,
    overrides,
    split,
    time_limit,
)
from fuzzing_data import check_data_file, data_files, nestings
from hypothesis import HealthCheck, given, settings

TOTAL = int(os.environ.get("FTSPEC_FUZZ_EXAMPLES") or 0)
EXAMPLES = split(TOTAL) if TOTAL else DEFAULT_EXAMPLES


def fuzz_settings(kind: str) -> settings:
    # No example database: it would write .hypothesis/ into the working tree, and a failure prints its seed anyway.
    return settings(
        max_examples=EXAMPLES[kind],
        deadline=timedelta(seconds=SOFT_LIMIT),
        database=None,
        suppress_health_check=list(HealthCheck),
    )


def report(kind: str, counts: Counter, started: float) -> None:
    seconds = time.perf_counter() - started
    total = counts["examples"]
    print(
        f"\nfuzz {kind}: {total} examples in {seconds:.1f} s ({total / seconds:.0f}/s): "
        f"{counts['compiled']} compiled, {total - counts['compiled']} with errors; "
        f"most common: {counts_of_codes(counts)}",
        file=sys.stderr,
    )


def counts_of_codes(counts: Counter) -> str:
    codes = Counter({key: n for key, n in counts.items() if key.startswith("FT")})
    return ", ".join(f"{code} x{n}" for code, n in codes.most_common(6))


def tally(counts: Counter, outcome) -> None:
    counts["examples"] += 1
    counts["compiled"] += outcome.compiled
    counts.update(set(outcome.errors))


@pytest.fixture
def workspace(tmp_path):
    return make_workspace(tmp_path / "work"), tmp_path / "out"


def test_specs_written_from_the_grammar(workspace):
    specs, out = workspace
    counts, started = Counter(), time.perf_counter()

    @fuzz_settings("grammar")
    @given(documents())
    def run(text):
        tally(counts, check_text(text, specs, out, grammatical=True))

    run()
    report("grammar", counts, started)
    # The generator writes consistent specs often enough that the planner and templates see many of them.
    assert counts["compiled"] >= counts["examples"] // 10, counts


def test_mutated_shipped_specs(workspace):
    specs, out = workspace
    counts, started = Counter(), time.perf_counter()

    @fuzz_settings("mutants")
    @given(mutants())
    def run(data):
        tally(counts, check_text(data, specs, out))

    run()
    report("mutants", counts, started)
    # Many mutations are harmless (a comment, a swapped line): those compile, and are checked like the others.
    assert counts["compiled"] >= counts["examples"] // 20, counts


def test_set_overrides(workspace):
    specs, out = workspace
    counts, started = Counter(), time.perf_counter()

    @fuzz_settings("overrides")
    @given(overrides())
    def run(assignments):
        tally(counts, check_overrides(specs / SHIPPED[0], assignments, out))

    run()
    report("overrides", counts, started)


def test_broken_data_files(workspace):
    specs, _ = workspace
    counts, started = Counter(), time.perf_counter()

    @fuzz_settings("data")
    @given(data_files())
    def run(case):
        tally(counts, check_data_file(case, specs))

    run()
    report("data", counts, started)
    assert counts["compiled"] >= 1, counts  # some data files survive their mutations and pass the check


def test_deep_nesting(workspace):
    specs, out = workspace
    counts, started = Counter(), time.perf_counter()

    @fuzz_settings("nesting")
    @given(nestings())
    def run(text):
        tally(counts, check_text(text, specs, out))

    run()
    report("nesting", counts, started)


def test_the_limit_stops_a_loop_by_its_cpu_time_and_a_blocking_wait_by_the_clock():
    with pytest.raises(Hang, match="1 s of CPU time"), time_limit(1, wait=30):
        while True:
            pass
    started = time.perf_counter()
    with pytest.raises(Hang, match="no answer after 1 s$"), time_limit(30, wait=1):
        time.sleep(20)  # uses no CPU: only the clock stops it
    assert time.perf_counter() - started < 10
