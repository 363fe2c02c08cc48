"""What the fuzz tests and `bench/fuzz.py` share: a workspace, spec generators and the property they check.

The property is the promise the CLI makes for any input file: `check` (and `compile` when check passes) answers
with diagnostics that point into the file, never with an exception or a hang, and whatever it compiles is
Python that parses.

Generators:

- `documents()` writes specs from the grammar: real and random keys, every kind of value, labels, comments,
  whitespace and line endings. Values for real keys are mostly valid for their type, so many specs compile.
- `mutants()` breaks the shipped specs: lines deleted, duplicated or swapped, characters and tokens inserted,
  bytes truncated, brackets and quotes flipped, values replaced by values of other kinds.
- `overrides()` writes `--set` assignments, which reach the parser by their own path.
"""

from __future__ import annotations

import ast
import json
import random
import re
import shutil
import signal
import types
import typing
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hypothesis import strategies as st

from ftspec import api
from ftspec.diagnostics import LONG_LINE, render, render_all
from ftspec.spec import schema

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ("cricket-coach.ft", "tiny-base.ft", "clinic-sentiment.ft")
SHIPPED_DATA = (
    "data/cricket/coaching.jsonl",
    "data/general/python-docs.txt",
    "data/clinic/feedback.csv",
    "data/clinic/feedback-test.csv",
)

# Error codes that may come without a span, and why: everything else must point into a file.
UNLOCATED = {
    # The spec named on the command line is missing, unreadable or not UTF-8: there is no text to point into
    # (the same code for a file named by `extends` carries the span of that setting).
    "FT301": "the spec file given to `check` cannot be read",
    # Lark's UnexpectedEOF; LALR never raises it (the end of file comes as a located `$END` token).
    "FT004": "unexpected end of file",
}
# Syntax errors: a spec written from the grammar must never get one.
SYNTAX = {"FT001", "FT002", "FT004", "FT005"}

# Examples per generator in the default test run (about 60 s on two cores; `data` and `nesting` are in
# tests/fuzzing_data.py); FTSPEC_FUZZ_EXAMPLES and
# `bench/fuzz.py N` split their total in the same proportions.
DEFAULT_EXAMPLES = {"grammar": 1200, "mutants": 1200, "overrides": 400, "data": 300, "nesting": 100}


def split(total: int) -> dict[str, int]:
    """``total`` examples shared among the generators like the default run."""
    whole = sum(DEFAULT_EXAMPLES.values())
    shares = {kind: max(1, total * count // whole) for kind, count in DEFAULT_EXAMPLES.items()}
    shares["grammar"] += max(0, total - sum(shares.values()))  # the rounding remainder, so N means N
    return shares


# An example over SOFT_LIMIT seconds fails the hypothesis `deadline`; one over HARD_LIMIT is interrupted, so a
# real hang (a loop, a blocking read) fails instead of stalling the run.
SOFT_LIMIT = 2.0
HARD_LIMIT = 20


class Hang(Exception):
    """An example ran past HARD_LIMIT."""


@contextmanager
def time_limit(seconds: float):
    """Raise Hang in the main thread after ``seconds`` (SIGALRM also interrupts a blocking read)."""

    def expire(signum, frame):
        raise Hang(f"no answer after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    # Then again every second: a Hang raised inside a garbage-collector callback is printed and dropped by
    # Python ("Exception ignored in gc_callback"), and a one-shot alarm would leave a real hang running.
    signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- the workspace -------------------------------------------------------------------------------------------

SMALL_ROWS = [
    {"text": "a", "prompt": "p", "response": "r", "question": "q", "answer": "a", "label": "x"},
    {"text": "b", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]},
]


def make_workspace(root: Path) -> Path:
    """``root/specs`` with the shipped specs, the data they name and small data files; returns that directory."""
    specs = root / "specs"
    specs.mkdir(parents=True, exist_ok=True)
    for name in SHIPPED:
        shutil.copyfile(ROOT / "specs" / name, specs / name)
    for relative in SHIPPED_DATA:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / relative, root / relative)
    (specs / "small.jsonl").write_text("".join(json.dumps(row) + "\n" for row in SMALL_ROWS), encoding="utf-8")
    (specs / "small.txt").write_text("one paragraph\n\nanother one\n", encoding="utf-8")
    (specs / "small.csv").write_text("text,label\nfine,x\nbad,y\n", encoding="utf-8")
    return specs


# --- the property ---------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """How far one input got: the errors `check` found, and whether it compiled."""

    errors: tuple[str, ...] = ()
    compiled: bool = False


def _lines(text: str) -> list[str]:
    # Lark counts lines by "\n" alone; files are read with universal newlines, but `--set` text keeps its "\r".
    return [line.removesuffix("\r") for line in text.split("\n")]


def check_located(result: api.Result, label: str) -> None:
    """Every error has a span inside the file it names (or is one of UNLOCATED), and renders showing that line."""
    sources = result.sources
    for diag in result.diagnostics:
        where = f"{label}: {diag.code} {diag.message!r} at {diag.span}"
        if diag.span is None:
            assert not diag.is_error or diag.code in UNLOCATED, f"{where}: an error without a location"
            continue
        span = diag.span
        assert span.path in sources, f"{where}: names a file that is not among the sources {sorted(sources)}"
        lines = _lines(sources[span.path])
        assert 1 <= span.line <= len(lines), f"{where}: line outside the file ({len(lines)} lines)"
        assert 1 <= span.column <= len(lines[span.line - 1]) + 1, f"{where}: column outside line {span.line}"
        assert (span.end_line, span.end_column) >= (span.line, span.column), f"{where}: ends before it starts"
        assert span.end_line <= len(lines), f"{where}: ends outside the file"
        # The end is exclusive, so one past the line's last character is inside; one more is allowed for the
        # 1:1-1:2 span that missing settings and blocks point at, when the first line is empty.
        assert span.end_column <= len(lines[span.end_line - 1]) + 2, f"{where}: ends outside line {span.end_line}"
        shown = render(diag, sources)
        # At most four lines (location and message, source, carets, help), and no control characters: a value
        # must not forge a diagnostic line of its own or reach the terminal as an escape sequence.
        assert shown.count("\n") <= 3, f"{where}: rendered on more than four lines:\n{shown}"
        assert not any(_control(c) for c in shown.replace("\n", "")), f"{where}: control characters in {shown!r}"
        source = lines[span.line - 1]
        if len(source) <= LONG_LINE:
            expected = f"{span.line:>4} | " + source.replace("\t", " ")
            assert _shown(expected) + "\n" in _shown(shown), f"{where}: not showing line {span.line}:\n{shown}"


def _control(char: str) -> bool:
    return ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0


def _shown(text: str) -> str:
    """``text`` with what a renderer may blank (unprintable characters) blanked, for comparisons."""
    return "".join(c if c.isprintable() or c == "\n" else "\ufffd" for c in text)


def check_file(path: Path, out_dir: Path, grammatical: bool = False) -> Outcome:
    """Run `check`, then `compile` when check passes, as the CLI does; assert the property on the way."""
    label = path.name
    with time_limit(HARD_LIMIT):
        result = api.check(path)
        check_located(result, label)
        render_all(result.diagnostics, result.sources)  # what the CLI prints must render too
        errors = tuple(d.code for d in result.diagnostics if d.is_error)
        if grammatical:
            syntax = [d for d in result.diagnostics if d.code in SYNTAX]
            assert not syntax, f"{label}: a spec written from the grammar gets {syntax[0].code} {syntax[0].message}"
        if errors:
            return Outcome(errors)
        compiled = api.compile_spec(path, out_dir)
        check_located(compiled, label)
        if not compiled.ok:
            return Outcome(tuple(d.code for d in compiled.diagnostics if d.is_error))
        check_files(compiled.files, label)
        return Outcome((), True)


def check_files(files: dict[str, str], label: str) -> None:
    """Generated Python parses; plan.json is JSON."""
    for name, text in files.items():
        if name.endswith(".py"):
            try:
                ast.parse(text, name)
            except (SyntaxError, ValueError) as err:
                raise AssertionError(f"{label}: generated {name} does not parse: {err}") from err
    json.loads(files["plan.json"])


def check_text(text: str | bytes, directory: Path, out_dir: Path, grammatical: bool = False) -> Outcome:
    """Write ``text`` as a spec in ``directory`` (bytes as they are) and check it."""
    path = directory / "fuzzed.ft"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", errors="surrogatepass"))
    return check_file(path, out_dir, grammatical)


def check_overrides(spec: Path, assignments: tuple[str, ...], out_dir: Path) -> Outcome:
    """`--set` assignments on a shipped spec: the same property."""
    with time_limit(HARD_LIMIT):
        result = api.check(spec, assignments)
        check_located(result, "--set " + " --set ".join(assignments))
        render_all(result.diagnostics, result.sources)
        if not result.ok:
            return Outcome(tuple(d.code for d in result.diagnostics if d.is_error))
        compiled = api.compile_spec(spec, out_dir, assignments)
        check_located(compiled, "--set")
        if compiled.ok:
            check_files(compiled.files, "--set")
        return Outcome((), compiled.ok)


# --- values ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """A number, name or boolean, written as it is."""

    text: str


@dataclass(frozen=True)
class Str:
    """A string; ``escaped`` bodies are written between the quotes untouched (to test bad escapes)."""

    value: str
    escaped: bool = False


@dataclass(frozen=True)
class Lst:
    items: tuple


@dataclass(frozen=True)
class Set:
    key: str
    value: object


@dataclass(frozen=True)
class Blk:
    name: str
    label: str | None
    items: tuple


# Strings that have broken code generators before: quotes, escapes, template and shell syntax, code.
NASTY = (
    '"',
    "'",
    '"""',
    "'''",
    "\\",
    "\\n",
    "\n",
    "\r\n",
    "\t",
    "{{ x }}",
    "{% if x %}",
    "{x}",
    "{",
    "}}",
    "${HOME}",
    "$(touch pwned)",
    "`id`",
    "__import__('os').system('touch pwned')",
    "|",
    "#",
    "\u2028",
    "\x0c",
    "\x1b[31m",
    "é中🙂",
    "\ufeff",
)
idents = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,11}", fullmatch=True)
# Any character but NUL, which the language refuses even inside strings (FT001); mutants() still inserts it.
characters = st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\0")
texts = st.one_of(
    st.text(characters, max_size=24),
    st.lists(st.one_of(st.sampled_from(NASTY), st.text(characters, max_size=4)), max_size=5).map("".join),
)
strings = texts.map(Str)
# Bodies with an escape the language does not know (FT003), written raw between the quotes.
bad_escapes = st.builds(lambda a, c, b: Str(f"{a}\\{c}{b}", escaped=True), idents, st.sampled_from("qx0u'a "), idents)


def _int_text(number: int, draw_style: int) -> str:
    text = str(number)
    if draw_style == 1 and abs(number) >= 1000:
        return f"{number:_}"
    if draw_style == 2 and number >= 0:
        return "+" + text
    return text


ints = st.builds(lambda n, style: Raw(_int_text(n, style)), st.integers(-(10**6), 10**12), st.integers(0, 3))
huge_ints = st.integers(10**18, 10**30).map(lambda n: Raw(str(n)))
floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64).map(lambda x: Raw(repr(x))),
    st.sampled_from(["1e999", "-1e999", ".5", "5.", "1E3", "2e-4", "0.0", "-0.0", "1e-400", "1__0"]).map(Raw),
)
percents = st.floats(0, 1000, allow_nan=False).map(lambda x: Raw(f"{x:g}%"))
UNITS = ("KiB", "MiB", "GiB", "TiB", "KB", "MB", "GB", "TB")
sizes = st.builds(lambda n, unit: Raw(f"{n}{unit}"), st.integers(0, 4096), st.sampled_from(UNITS))
bad_suffixes = st.builds(
    lambda n, s: Raw(f"{n}{s}"), st.integers(0, 99), st.sampled_from(["Gb", "x", "%%", "e", "gib"])
)
booleans = st.sampled_from(["true", "false"]).map(Raw)
names = idents.map(Raw)
scalars = st.one_of(strings, ints, floats, percents, sizes, booleans, names, huge_ints, bad_escapes, bad_suffixes)
any_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4).map(lambda xs: Lst(tuple(xs))), max_leaves=12
)


def _bound(metadata, name):
    return next((getattr(m, name) for m in metadata if getattr(m, name, None) is not None), None)


def typed_values(annotation, metadata=()) -> st.SearchStrategy:
    """Values valid for a schema annotation (type, range, choices), so generated specs get past validation."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        inner = [m for field in args[1:] for m in getattr(field, "metadata", [field])]
        return typed_values(args[0], (*metadata, *inner))
    if origin in (typing.Union, types.UnionType):
        return st.one_of([typed_values(arg, metadata) for arg in args if arg is not type(None)])
    if origin is typing.Literal:
        return st.sampled_from(args).map(lambda choice: Raw(str(choice)))
    if origin is list:
        least = _bound(metadata, "min_length") or 0
        items = typed_values(args[0])
        return st.lists(items, min_size=least, max_size=least + 3).map(lambda xs: Lst(tuple(xs)))
    if annotation is bool:
        return booleans
    if annotation is int:
        low = _bound(metadata, "ge")
        low = low if low is not None else (_bound(metadata, "gt") or 0) + 1
        high = _bound(metadata, "le") or low + 10**6
        return st.integers(low, high).map(lambda n: Raw(str(n)))
    if annotation is float:
        low, high = _bound(metadata, "ge"), _bound(metadata, "le")
        above = _bound(metadata, "gt")
        return st.floats(
            min_value=above if above is not None else (low or 0.0),
            max_value=high if high is not None else 1e6,
            exclude_min=above is not None,
            allow_nan=False,
        ).map(lambda x: Raw(repr(x)))
    if annotation is schema.Percent:
        return st.floats(0, 100).map(lambda x: Raw(f"{x:g}%"))
    if annotation is schema.Size:
        return st.builds(lambda n, unit: Raw(f"{n}{unit}"), st.integers(1, 200), st.sampled_from(UNITS))
    return strings  # str, and anything new the schema grows


def _fields(model) -> dict:
    return {name: info for name, info in model.model_fields.items() if name != "kind"}


def _typed(model, key: str) -> st.SearchStrategy:
    info = model.model_fields[key]
    return typed_values(info.annotation, tuple(info.metadata))


# Every real key, by block: top level "", the plain blocks, and each strategy kind as "strategy <kind>".
REAL_KEYS: dict[str, dict] = {"": _fields(schema.TopLevel)}
REAL_KEYS.update({name: _fields(model) for name, model in schema.BLOCKS.items() if name != "strategy"})
REAL_KEYS.update({f"strategy {kind}": _fields(model) for kind, model in schema.STRATEGIES.items()})
ALL_KEYS = sorted({key for keys in REAL_KEYS.values() for key in keys})
FORMATS = ("text", "instruction", "chat", "classification")
DATA_FILES = {"text": "small.txt", "instruction": "small.jsonl", "chat": "small.jsonl", "classification": "small.csv"}


def _model_of(block: str):
    if block == "":
        return schema.TopLevel
    if block.startswith("strategy "):
        return schema.STRATEGIES[block.split()[1]]
    return schema.BLOCKS[block]


def _settings(block: str) -> st.SearchStrategy:
    """Settings for ``block``: mostly a real key with a valid value, sometimes any key with any value."""
    model = _model_of(block)
    typed = [st.tuples(st.just(key), _typed(model, key)) for key in sorted(_fields(model))]
    anything = st.tuples(st.one_of(st.sampled_from(ALL_KEYS), idents), any_values)
    return st.one_of(*typed, anything).map(lambda pair: Set(*pair))


# Built once: hypothesis validates a strategy the first time it draws from it, which is slow for fresh ones.
SETTINGS = {block: _settings(block) for block in REAL_KEYS}
SETTING_LISTS = {block: st.lists(s, max_size=3, unique_by=lambda s: s.key) for block, s in SETTINGS.items()}
MODEL_NAMES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,15}", fullmatch=True)
TRAIN_FILES = {
    fmt: st.sampled_from([name] * 6 + ["small.*", "*.jsonl", "missing.jsonl", "hub:org/data"])
    for fmt, name in DATA_FILES.items()
}
BASES = st.one_of(
    st.just(Set("model", Str("org/model"))),
    st.from_regex(r"[\w.-]{1,8}/[\w.-]{1,8}", fullmatch=True).map(lambda hub_id: Set("model", Str(hub_id))),
    st.just(Set("spec", Str("tiny-base.ft"))),
)
TEMPLATES = st.sampled_from(["alpaca", "plain", "{prompt} -> ", "{x}{y}"]).map(Str)
CHAT_TEMPLATES = st.sampled_from([Str("chatml"), Str("{{ x }}")])
LABELS = st.lists(texts, min_size=2, max_size=4, unique=True).map(lambda labels: Lst(tuple(map(Str, labels))))
PROMPTS = st.lists(strings, max_size=3).map(lambda prompts: Lst(tuple(prompts)))
EXTENDS = st.sampled_from([*SHIPPED, "fuzzed.ft", "missing.ft", "."]).map(lambda path: Set("extends", Str(path)))
BLOCK_NAMES = st.one_of(st.sampled_from(sorted(schema.BLOCKS)), idents)
LABEL_NAMES = st.one_of(st.none(), idents)
STRATEGY_KINDS = st.sampled_from(sorted(schema.STRATEGIES))


@st.composite
def skeletons(draw) -> list:
    """A spec that is consistent often enough to compile: name, data, strategy, base and friends."""
    fmt = draw(st.sampled_from(FORMATS))
    kind = draw(STRATEGY_KINDS)
    top = [Set("name", Str(draw(MODEL_NAMES)))]
    if draw(st.booleans()):
        top.append(Set("domain", draw(strings)))
    if draw(st.booleans()):
        top.append(Set("description", draw(strings)))
    # Data paths point at an existing small file most of the time.
    data = [Set("train", Str(draw(TRAIN_FILES[fmt]))), Set("format", Raw(fmt))]
    if fmt == "instruction":
        data += [Set("prompt", draw(strings)), Set("response", draw(strings))]
        if draw(st.booleans()):
            data.append(Set("template", draw(TEMPLATES)))
    elif fmt == "classification":
        data += [Set("label", draw(strings)), Set("labels", draw(LABELS)), Set("packing", Raw("false"))]
    elif fmt == "chat":
        data.append(Set("messages", draw(strings)))
        if draw(st.booleans()):
            data.append(Set("chat_template", draw(CHAT_TEMPLATES)))
    elif draw(st.booleans()):
        data.append(Set("text", draw(strings)))
    blocks = [Blk("data", None, tuple(data))]
    strategy: list = []
    if kind == "scratch":
        strategy = [Set("hidden_size", Raw("64")), Set("heads", Raw("4")), Set("context", Raw("1048576"))]
        blocks.append(Blk("tokenizer", None, (Set("train", Raw("true")),)))
    else:
        blocks.append(Blk("base", None, (draw(BASES), *draw(SETTING_LISTS["base"])[:2])))
    strategy += draw(SETTING_LISTS[f"strategy {kind}"])
    blocks.append(Blk("strategy", kind, tuple(strategy)))
    for name in ("train", "eval", "hardware", "output"):
        if draw(st.booleans()):
            settings = draw(SETTING_LISTS[name])
            if name == "eval" and fmt != "classification" and draw(st.booleans()):
                settings = [s for s in settings if s.key != "prompts"] + [Set("prompts", draw(PROMPTS))]
            blocks.append(Blk(name, None, tuple(settings)))
    return top + blocks


@st.composite
def document_items(draw) -> list:
    """A skeleton with random additions: settings anywhere, unknown blocks, labels, nesting, `extends`."""
    items = list(draw(skeletons()))
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.integers(0, len(items)))
        choice = draw(st.integers(0, 5))
        last = min(where, len(items) - 1)
        if choice == 0:
            items.insert(where, draw(SETTINGS[""]))
        elif choice == 1:
            items.insert(where, Blk(draw(BLOCK_NAMES), draw(LABEL_NAMES), tuple(draw(SETTING_LISTS[""]))))
        elif choice == 2 and isinstance(items[last], Blk):
            extra = draw(SETTINGS[""]) if draw(st.booleans()) else Blk(draw(idents), None, ())
            items[last] = Blk(items[last].name, items[last].label, (*items[last].items, extra))
        elif choice == 3:
            items.insert(0, draw(EXTENDS))
        elif choice == 4 and len(items) > 1:
            del items[where % len(items)]
    if draw(st.booleans()):
        items = draw(st.permutations(items))
    return items


# The layout (whitespace, comments, line ends) and the mutations come from a seeded Random: drawing each choice
# from hypothesis would be several times slower, and the seed still replays a failure exactly.
SEEDS = st.integers(0, 2**32 - 1)


# --- writing a document -----------------------------------------------------------------------------------------


def escape(value: str) -> str:
    """A Python string as the body of a spec string: the five escapes the language knows."""
    out = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return out


class Writer:
    """Writes items as spec text with random (but grammatical) layout, driven by ``rnd``."""

    def __init__(self, rnd: random.Random):
        self.rnd = rnd
        self.eol = rnd.choice(["\n", "\n", "\n", "\r\n", "mixed"])

    def nl(self) -> str:
        return self.rnd.choice(["\n", "\r\n"]) if self.eol == "mixed" else self.eol

    def space(self, least: int = 0) -> str:
        return "".join(self.rnd.choice(" \t") for _ in range(self.rnd.randint(least, least + 2)))

    def comment(self) -> str:
        if self.rnd.random() < 0.25:
            return self.space(1) + "#" + self.rnd.choice(["", " note", "#", ' "x" = [', " } {", " é 🙂"])
        return ""

    def line_end(self) -> str:
        """The end of a statement: a comment, the newline, and sometimes blank or comment lines."""
        out = self.comment() + self.nl()
        while self.rnd.random() < 0.2:
            out += self.space() + self.rnd.choice(["", "# comment", "#"]) + self.nl()
        return out

    def value(self, value, indent: str) -> str:
        if isinstance(value, Raw):
            return value.text
        if isinstance(value, Str):
            return '"' + (value.value if value.escaped else escape(value.value)) + '"'
        items = [self.value(item, indent + "  ") for item in value.items]
        if not items:
            return self.rnd.choice(["[]", "[ ]", "[" + self.nl() + indent + "]"])
        trailing = self.rnd.choice(["", ","])
        if self.rnd.random() < 0.5:
            return "[" + ("," + self.space()).join(items) + trailing + "]"
        inner = indent + "  "
        body = "".join(inner + item + "," + self.comment() + self.nl() for item in items)
        return "[" + self.comment() + self.nl() + body + indent + "]"

    def statement(self, item, indent: str) -> str:
        if isinstance(item, Set):
            return indent + item.key + self.space() + "=" + self.space() + self.value(item.value, indent)
        head = indent + item.name + (" " + self.space() + item.label if item.label else "") + self.space() + "{"
        if not item.items:
            return head + self.rnd.choice(["}", " }", self.nl() + indent + "}"])
        if len(item.items) == 1 and isinstance(item.items[0], Set) and self.rnd.random() < 0.3:
            return head + " " + self.statement(item.items[0], "") + " }"
        body = "".join(self.statement(child, indent + "  ") + self.line_end() for child in item.items)
        return head + self.line_end() + body + indent + "}"

    def document(self, items) -> str:
        out = self.line_end() if self.rnd.random() < 0.3 else ""
        for index, item in enumerate(items):
            out += self.statement(item, self.space() if self.rnd.random() < 0.2 else "")
            if index < len(items) - 1 or self.rnd.random() < 0.8:
                out += self.line_end()
        return out


@st.composite
def documents(draw) -> str:
    """Spec text written from the grammar."""
    items = draw(document_items())
    return Writer(random.Random(draw(SEEDS))).document(items)


# --- mutations of the shipped specs --------------------------------------------------------------------------------

TOKENS = (
    "{",
    "}",
    "[",
    "]",
    "=",
    ",",
    '"',
    "#",
    "\\",
    "%",
    "true",
    "1e999",
    "10%",
    "80GiB",
    "80Gb",
    "-",
    ".",
    "strategy",
    "strategy lora {",
    'extends = "tiny-base.ft"',
    'extends = "fuzzed.ft"',
    'extends = "/dev/null"',
    'base { spec = "fuzzed.ft" }',
    'base { spec = "cricket-coach.ft" }',
    "train { }",
    "\n",
    "\r",
    "\t",
    "\0",
    "\ufeff",
    "\u2028",
    "\x0c",
    "é",
    "🙂",
    "[" * 40 + "]" * 40,
)
VALUE_LINE = "(?m)^(?P<head>[ \t]*[A-Za-z_][A-Za-z0-9_]*[ \t]*=[ \t]*)(?P<value>[^#\n]*?)(?P<tail>[ \t]*(#.*)?)$"


def _mutate(rnd: random.Random, data: bytes, value_texts: list[str]) -> bytes:
    kind = rnd.randrange(9)
    if kind == 7:  # truncate at a random byte, perhaps inside a UTF-8 sequence
        return data[: rnd.randint(0, len(data))]
    text = data.decode("utf-8", errors="surrogateescape")
    lines = text.split("\n")
    if kind == 0 and lines:  # delete a line
        del lines[rnd.randrange(len(lines))]
    elif kind == 1 and lines:  # duplicate a line
        index = rnd.randrange(len(lines))
        lines.insert(rnd.randint(0, len(lines)), lines[index])
    elif kind == 2 and len(lines) > 1:  # swap two lines
        i, j = rnd.randrange(len(lines)), rnd.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif kind in (3, 4):  # insert a character or a token
        where = rnd.randint(0, len(text))
        piece = rnd.choice(TOKENS) if kind == 4 else chr(rnd.choice([rnd.randrange(32, 127), rnd.randrange(0x110000)]))
        if 0xD800 <= ord(piece[0]) <= 0xDFFF:
            piece = "\ufffd"
        text = text[:where] + piece + text[where:]
        return text.encode("utf-8", errors="surrogateescape")
    elif kind == 5:  # flip a quote, brace or bracket
        flips = {'"': "'", "'": '"', "{": "}", "}": "{", "[": "]", "]": "[", "=": ":"}
        spots = [i for i, c in enumerate(text) if c in flips]
        if spots:
            i = rnd.choice(spots)
            text = text[:i] + rnd.choice([flips[text[i]], "[", "{", '"', ""]) + text[i + 1 :]
        return text.encode("utf-8", errors="surrogateescape")
    elif kind in (6, 8):  # replace a value with one of another kind
        matches = list(re.finditer(VALUE_LINE, text))
        if matches:
            match = rnd.choice(matches)
            text = text[: match.start("value")] + rnd.choice(value_texts) + text[match.end("value") :]
        return text.encode("utf-8", errors="surrogateescape")
    return "\n".join(lines).encode("utf-8", errors="surrogateescape")


VALUE_SAMPLES = st.lists(any_values, min_size=1, max_size=3)


@st.composite
def mutants(draw) -> bytes:
    """A shipped spec after one to five random mutations, as bytes (a truncation may split a character)."""
    name = draw(st.sampled_from(SHIPPED))
    data = (ROOT / "specs" / name).read_bytes()
    rnd = random.Random(draw(SEEDS))
    writer = Writer(rnd)
    value_texts = [writer.value(v, "") for v in draw(VALUE_SAMPLES)]
    for _ in range(draw(st.integers(1, 5))):
        data = _mutate(rnd, data, value_texts)
    return data


# --- overrides ------------------------------------------------------------------------------------------------------


# Every real (block, key) with its valid values, for `--set`; a strategy's keys are set as `strategy.key`.
OVERRIDE_TARGETS = [
    (block.split()[0] + "." + key if block else key, _typed(_model_of(block), key))
    for block, keys in REAL_KEYS.items()
    for key in sorted(keys)
]
OVERRIDE_VALID = st.sampled_from(range(len(OVERRIDE_TARGETS)))
OVERRIDE_ANY = st.tuples(
    st.one_of(st.sampled_from([target for target, _ in OVERRIDE_TARGETS]), idents.map("nope.{}".format)), any_values
)


@st.composite
def overrides(draw) -> tuple[str, ...]:
    """`--set` assignments: real targets with valid values, any value, random targets, malformed forms."""
    out = []
    for _ in range(draw(st.integers(1, 3))):
        form = draw(st.integers(0, 7))
        if form == 0:
            out.append(draw(st.text(max_size=20)))  # anything at all
            continue
        if form < 5:
            target, values = OVERRIDE_TARGETS[draw(OVERRIDE_VALID)]
            value = draw(values)
        else:
            target, value = draw(OVERRIDE_ANY)
        text = Writer(random.Random(draw(SEEDS))).value(value, "")
        out.append(f"{target} = {text}" if form % 2 else f"{target}={text}")
    return tuple(out)
