"""The command line: parses arguments, calls the API, prints, and picks the exit code.

Exit codes: 0 no errors (warnings alone too, unless --strict), 1 errors, 2 usage.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from pathlib import Path

from .. import api
from ..diagnostics import FtspecError
from ..inputs.hardware import PROFILES
from ..planner.cost import cost, price
from .console import print_diagnostics, report, shown

TARGETS = (*PROFILES, "detect")


def _failed(result: api.Result, strict: bool = False) -> bool:
    return not result.ok or (strict and bool(result.diagnostics))


def cmd_check(args) -> int:
    status = 0
    for path in args.specs:
        result = api.check(path, tuple(args.set), args.target)
        if args.data and result.ok:
            status = max(status, _check_data(result, path, args.strict))
            continue
        print_diagnostics(result)
        if _failed(result, args.strict):
            status = 1
        elif not result.diagnostics:
            print(f"{path}: ok")
    return status


def _check_data(result: api.Result, path: str, strict: bool) -> int:
    """`check --data`: the spec's and the data's diagnostics in one report, then the quality table."""
    data = api.check_data(result.plan)
    found = [*result.diagnostics, *data.diagnostics]
    report(found, result.sources, result.loaded.path)
    print(data.table())
    if any(d.is_error for d in found) or (strict and found):
        return 1
    if not found:
        print(f"{path}: ok")
    return 0


def cmd_fmt(args) -> int:
    from ..spec.fmt import format_source, read_source, write_atomic

    def formatted(path: str, text: str) -> str | None:
        result, diagnostics = format_source(text, path)
        if result is None:
            report(list(diagnostics), {path: text}, path)
        return result

    if args.specs == ["-"]:
        text = sys.stdin.buffer.read().decode("utf-8", errors="replace")
        result = formatted("<stdin>", text)
        if result is not None and not args.check:
            sys.stdout.write(result)
        elif result is not None and result != text:
            print("would reformat -", file=sys.stderr)  # stdout is kept for the text itself
        return int(result is None or (args.check and result != text))
    status = 0
    for path in args.specs:
        try:
            text = read_source(path)
        except (OSError, UnicodeDecodeError) as err:
            reason = "not UTF-8 text" if isinstance(err, UnicodeDecodeError) else (err.strerror or str(err)).lower()
            print(f"ftspec: cannot format {path}: {reason}", file=sys.stderr)
            status = 1
            continue
        result = formatted(path, text)
        if result is None:
            status = 1
        elif result == text:
            continue
        elif args.check:
            print(f"would reformat {path}")
            status = 1
        else:
            write_atomic(path, result)
            print(f"formatted {path}")
    return status


def cmd_plan(args) -> int:
    result = api.check(args.spec, tuple(args.set), args.target)
    print_diagnostics(result)
    if result.plan is None or _failed(result):
        return 1
    from ..planner.plan import plan_dict, plan_json

    plan = result.plan
    if args.json:
        # The run directory's plan.json, byte for byte; a price adds the cost as a section of its own.
        extra = {"cost": cost(plan, args.price)} if args.price is not None else None
        sys.stdout.write(plan_json(plan, plan.output.dir, extra))
        return 0
    from .plan_table import plan_table

    print(plan_table({**plan_dict(plan, Path.cwd()), "cost": cost(plan, args.price)}))
    return 0


def cmd_suggest(args) -> int:
    from ..suggest.candidates import SuggestError, suggest

    try:
        text = suggest(args.domain, args.task, args.target, args.gpus, args.gpu_memory, args.micro_batch)
    except SuggestError as err:
        print(f"ftspec suggest: {err}", file=sys.stderr)
        return 2
    print(text)
    return 0


def cmd_compile(args) -> int:
    result = api.compile_spec(args.spec, args.output, tuple(args.set), args.target)
    print_diagnostics(result)
    if _failed(result, args.strict):
        return 1
    try:
        api.write(result.files, result.out_dir)
    except FtspecError as err:
        report(list(err.diagnostics), result.sources, result.loaded.path)
        return 1
    print(f"wrote {len(result.files)} files to {shown(result.out_dir)}")
    return 0


def cmd_diff(args) -> int:
    from ..diff.spec import RevisionError, compare

    try:
        outcome = compare(args.old, args.new, args.target)
    except RevisionError as err:
        print(f"ftspec diff: {err}", file=sys.stderr)
        return 2
    for name, diagnostics, sources in outcome.problems:
        report(diagnostics, sources, name)
    if outcome.diff is not None:
        print(json.dumps(outcome.diff.as_json(), indent=2) if args.json else outcome.diff.text())
    return 0 if outcome.ok else 1


def cmd_run(args) -> int:
    from ..run.launch import run

    return run(Path(args.spec), tuple(args.set), target=args.target, force=args.force)


def cmd_eval(args) -> int:
    from ..run.launch import evaluate

    return evaluate(Path(args.spec), tuple(args.set), target=args.target)


def cmd_new(args) -> int:
    from ..suggest.candidates import SuggestError
    from ..suggest.starter import StarterError, starter, write_spec

    data = Path(args.data)
    out = Path(args.output) if args.output else Path(f"{data.stem}.ft")
    if out.exists() and not args.force:
        print(f"ftspec new: `{out}` exists; choose another with -o, or --force to replace it", file=sys.stderr)
        return 2
    try:
        text, found, base, strategy = starter(data, out, args.domain, args.target, args.gpu_memory, args.name)
    except (StarterError, SuggestError) as err:
        print(f"ftspec new: {err}", file=sys.stderr)
        return 2
    try:
        write_spec(out, text)
    except OSError as err:
        print(f"ftspec new: cannot write `{out}`: {err.strerror or err}", file=sys.stderr)
        return 1
    columns = ", ".join(f"{key} `{column}`" for key, column in found.columns.items())
    print(f"wrote {out}: {found.format} data" + (f" ({columns})" if columns else "") + f", {base}, strategy {strategy}")
    result = api.check(out)
    print_diagnostics(result)
    if not result.diagnostics:
        print(f"{out}: ok")
    return 0 if result.ok else 1


def cmd_lsp(args) -> int:
    try:
        from ..lsp.server import serve
    except ImportError as err:
        print(f"ftspec lsp needs the `lsp` extra ({err.name} is missing): pip install 'ftspec[lsp]'", file=sys.stderr)
        return 2
    serve()
    return 0


def cmd_chat(args) -> int:
    from ..run.chat import chat

    return chat(Path(args.spec), tuple(args.set), args.target, args.compare, tuple(args.prompt))


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="ftspec", description="Compile fine-tuning specs (.ft) into training scripts.")
    top.add_argument("--version", action="version", version="ftspec 0.1.0")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sub, many=False):
        if many:
            sub.add_argument("specs", nargs="+", metavar="SPEC", help="spec files")
        else:
            sub.add_argument("spec", metavar="SPEC", help="a spec file")
        sub.add_argument(
            "--set", action="append", default=[], metavar="BLOCK.KEY=VALUE", help="override one setting (repeatable)"
        )

    def target(sub, default=None):
        sub.add_argument(
            "--target",
            choices=TARGETS,
            default=default,
            metavar="NAME",
            help="hardware to plan for: " + ", ".join(TARGETS),
        )

    check = commands.add_parser("check", help="validate specs and report every problem")
    common(check, many=True)
    target(check)
    check.add_argument("--strict", action="store_true", help="treat warnings as errors")
    check.add_argument("--data", action="store_true", help="also read every data row; print a quality table")
    check.set_defaults(func=cmd_check)

    fmt = commands.add_parser("fmt", help="rewrite specs in the canonical layout (`-`: stdin to stdout)")
    fmt.add_argument("specs", nargs="+", metavar="SPEC", help="spec files, or `-` alone for standard input")
    fmt.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file would be reformatted")
    fmt.set_defaults(func=cmd_fmt)

    plan = commands.add_parser("plan", help="print the resolved plan")
    common(plan)
    target(plan)
    plan.add_argument(
        "--json", action="store_true", help="print the plan as JSON: the run directory's plan.json, byte for byte"
    )
    plan.add_argument(
        "--price",
        type=price,
        metavar="P",
        help="price of one GPU-hour (any currency): adds the cost (with --json, a `cost` section)",
    )
    plan.set_defaults(func=cmd_plan)

    suggestion = commands.add_parser(
        "suggest",
        help="list the catalog's base models for a domain and task, with what makes each fit",
        description="List base models from the catalog for a domain and task: specialists of the domain first, "
        "with size, licence, context and the cheapest strategy (full, LoRA, QLoRA) that fits the GPUs. Exit codes: "
        "0 with a table; 2 for usage errors, an unknown domain (with a did-you-mean) or a malformed size included.",
    )
    suggestion.add_argument("--domain", required=True, metavar="D", help="e.g. healthcare, finance, legal, code")
    suggestion.add_argument("--task", choices=("classification", "instruction", "chat", "text"), help="the data format")
    fits = suggestion.add_mutually_exclusive_group()
    target(fits)
    fits.add_argument("--gpu-memory", metavar="SIZE", help="memory of one GPU, as in specs: 24GiB, 80GB")
    suggestion.add_argument("--gpus", type=int, metavar="N", help="number of GPUs (default: 1, or the target's)")
    suggestion.add_argument(
        "--micro-batch", type=int, choices=(1, 2, 3, 4), default=4, metavar="B", help="sequences per step, 1-4 (4)"
    )
    suggestion.set_defaults(func=cmd_suggest)

    comp = commands.add_parser("compile", help="write the training scripts (generated/<name>/)")
    common(comp)
    target(comp)
    comp.add_argument("-o", "--output", metavar="DIR", help="output directory")
    comp.add_argument("--strict", action="store_true", help="treat warnings as errors")
    comp.set_defaults(func=cmd_compile)

    diff = commands.add_parser(
        "diff",
        help="what changed in meaning between two specs: settings, their consequences, the data",
        description="Compare two specs by meaning: the composed settings that differ, the planned values they "
        "change (batch, parameters, steps, memory, schedule), and whether what the model learns from changes "
        "(data files by content, masking, labels). Either side may be a git revision as REV:PATH "
        "(main:specs/x.ft). Exit codes: 0 when both specs compare, with or without differences; 1 when a spec "
        "has errors; 2 for usage errors.",
    )
    diff.add_argument("old", metavar="OLD", help="a spec file, or REV:PATH for a spec at a git revision")
    diff.add_argument("new", metavar="NEW", help="a spec file, or REV:PATH")
    target(diff)
    diff.add_argument("--json", action="store_true", help="print the changes as JSON")
    diff.set_defaults(func=cmd_diff)

    run = commands.add_parser("run", help="build the spec's base first if needed, then train")
    common(run)
    target(run, default="detect")
    run.add_argument("--force", action="store_true", help="rerun even when the results are up to date")
    run.set_defaults(func=cmd_run)

    evaluation = commands.add_parser("eval", help="evaluate the last run again: tuned (and base) on held-out data")
    common(evaluation)
    target(evaluation, default="detect")
    evaluation.set_defaults(func=cmd_eval)

    new = commands.add_parser(
        "new",
        help="write a starter spec for a data file: format, columns and a base chosen for you",
        description="Write a starter spec for a data file: the format and columns detected from its first rows, "
        "a base chosen from the catalog for the domain and the hardware (as `ftspec suggest` lists them), in the "
        "canonical layout with a comment on each setting; then check it. Exit codes: 0 written and clean; 1 "
        "written with errors, or not writable; 2 for usage errors, an unreadable data file included.",
    )
    new.add_argument("data", metavar="DATA", help="a data file (jsonl, json, csv, parquet, txt)")
    new.add_argument("-o", "--output", metavar="SPEC", help="the spec to write (default: DATA's name, .ft, here)")
    new.add_argument("--domain", default="general", metavar="D", help="e.g. healthcare, finance, legal, code")
    new.add_argument("--name", metavar="NAME", help="the model's name (default: from DATA's file name)")
    hw = new.add_mutually_exclusive_group()
    target(hw)
    hw.add_argument("--gpu-memory", metavar="SIZE", help="memory of one GPU, as in specs: 24GiB, 80GB")
    new.add_argument("--force", action="store_true", help="replace SPEC if it exists")
    new.set_defaults(func=cmd_new)

    lsp = commands.add_parser("lsp", help="the language server for editors, on standard input and output")
    lsp.set_defaults(func=cmd_lsp)

    talk = commands.add_parser(
        "chat",
        help="talk to the last run's model with the prompt template it was trained with",
        description="Talk to the model of the spec's last run: a session on a terminal, one answer per line of "
        "piped standard input, or the answers to --prompt. Answers stream as they are generated, with the spec's "
        "eval settings; a classifier prints the label and the probability of each. Ctrl-C ends cleanly.",
    )
    common(talk)
    target(talk, default="detect")
    talk.add_argument("--compare", action="store_true", help="show the base model's answer beside the tuned one")
    talk.add_argument("--prompt", action="append", default=[], metavar="TEXT", help="answer TEXT and exit (repeatable)")
    talk.set_defaults(func=cmd_chat)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("ftspec: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1


def entry() -> None:
    # What start-up built (modules, classes, the parser) lives as long as the process: frozen, it is no longer
    # walked by every full collection of the garbage collector that follows (~4% of a cold `ftspec check`).
    gc.freeze()
    sys.exit(main())


if __name__ == "__main__":
    entry()
