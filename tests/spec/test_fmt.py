"""`ftspec fmt`: exact layouts, idempotence, meaning kept, every comment kept once, and the command line."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from conftest import ROOT, ftspec_command

from ftspec import lower, parse
from ftspec.spec.ast import Setting, Value
from ftspec.spec.fmt import format_file, format_source

SPECS = sorted((ROOT / "specs").glob("*.ft"))
TOP_ORDER = ["extends", "name", "domain", "description"]
BLOCK_ORDER = ["base", "data", "tokenizer", "strategy", "train", "eval", "hardware", "output"]

# Messy inputs and, where given, the exact canonical text they format to (written by hand).
CASES: dict[str, tuple[str, str | None]] = {
    "misaligned": (
        'name="misaligned"\ndomain =   "general"\n'
        "train {\nepochs=3\n    learning_rate   =   2e-4\n  batch_size= 8\n}\n",
        """\
name   = "misaligned"
domain = "general"

train {
  epochs        = 3
  learning_rate = 2e-4
  batch_size    = 8
}
""",
    ),
    "tabs": (
        'name\t=\t"tabs"\ndata\t{\n\ttrain\t= "a.txt"\t# tab\tinside\t\n\t\tformat =\ttext\n}\n',
        """\
name = "tabs"

data {
  train  = "a.txt"                # tab\tinside
  format = text
}
""",
    ),
    "blank lines everywhere": (
        '\n\n\nname = "blank"\n\n\n\ndomain = "general"\n\n\n'
        "train {\n\n\n  epochs = 1\n\n\n\n  seed = 3\n\n\n}\n\n\n\n",
        """\
name   = "blank"
domain = "general"

train {
  epochs = 1

  seed   = 3
}
""",
    ),
    "comments everywhere": (
        """\
# file header

# about the name
name = "comments"  # the name
eval {  # eval opens
  # before metrics
  metrics = [  # open
    loss,  # first
    # after first
    accuracy
  ]  # after list
compare_base = true # compare
  # end of eval
}  # eval closes
# the very end
""",
        """\
# file header

# about the name
name = "comments"                 # the name

eval {  # eval opens
  # before metrics
  metrics      = [  # open
    loss,  # first
    # after first
    accuracy,
  ]  # after list
  compare_base = true             # compare
  # end of eval
}  # eval closes
# the very end
""",
    ),
    "blocks out of order": (
        """\
output { dir = "out" }
hardware { gpus = 1 }
eval { metrics = [loss] }
train { epochs = 1 }
strategy lora { rank = 8 }
tokenizer { train = true }
# about the data
data { train = "a.txt" }
base { model = "m" }
mystery { x = 1 }
description = "d"
domain = "general"
name = "order"
extends = "other.ft"
custom = 1
""",
        """\
extends     = "other.ft"
name        = "order"
domain      = "general"
description = "d"
custom      = 1

base {
  model = "m"
}

# about the data
data {
  train = "a.txt"
}

tokenizer {
  train = true
}

strategy lora {
  rank = 8
}

train {
  epochs = 1
}

eval {
  metrics = [loss]
}

hardware {
  gpus = 1
}

output {
  dir = "out"
}

mystery {
  x = 1
}
""",
    ),
    "long lists": (
        """\
eval {
  prompts = ["How do I play a cover drive?", "What is a googly?", "How should I set a field for spin?"]
  metrics = [perplexity,
     loss,]
}
""",
        """\
eval {
  prompts = [
    "How do I play a cover drive?",
    "What is a googly?",
    "How should I set a field for spin?",
  ]
  metrics = [perplexity, loss]
}
""",
    ),
    "escapes": (
        'name = "#not a comment"  # a real one\n'
        'description = "tab:\tend, quote: \\" backslash: \\\\ newline: \\n cr: \\r"\n',
        """\
name        = "#not a comment"    # a real one
description = "tab:\\tend, quote: \\" backslash: \\\\ newline: \\n cr: \\r"
""",
    ),
    "one-line blocks": (
        'data { train = "a.txt" }\ntrain { epochs = 2 }  # quick\nempty {}\nalso_empty {\n\n}\n',
        """\
data {
  train = "a.txt"
}

train {
  epochs = 2
}  # quick

empty { }

also_empty { }
""",
    ),
    "crlf": (
        'name = "crlf"\r\n# note\r\ntrain {\r\n  epochs = 1  # one\r\n}\r\n',
        """\
name = "crlf"

# note
train {
  epochs = 1                      # one
}
""",
    ),
    "empty file": ("", ""),
    "blank file": ("\n  \n\t\n", ""),
    "comments only": ("\n# one\n\n\n#two   \n\n", "# one\n\n#two\n"),
    "numbers": (
        "train {\n  a = +1_000\n  b = 2e-4\n  c = 5%\n  d = 80GiB\n  e = -3\n  f = 1_0.5E+3\n}\n",
        "train {\n  a = 1000\n  b = 2e-4\n  c = 5%\n  d = 80GiB\n  e = -3\n  f = 10.5E+3\n}\n",
    ),
    "comment column pushed right": (
        'base {\nmodel = "emilyalsentzer/Bio_ClinicalBERT" # hub\n  revision = "main" # rev\n}\n',
        """\
base {
  model    = "emilyalsentzer/Bio_ClinicalBERT"  # hub
  revision = "main"                             # rev
}
""",
    ),
    "comment column too far right": (
        'base {\n  model = "an/extremely-long-model-name-that-keeps-going-and-going"  # far\n'
        '  revision = "main" # rev\n}\n',
        """\
base {
  model    = "an/extremely-long-model-name-that-keeps-going-and-going"  # far
  revision = "main"  # rev
}
""",
    ),
    "comments in lists": (
        "eval {\n  metrics = [\n    # leading\n    loss, accuracy, # both\n\n"
        "    macro_f1 # last\n    # after last\n  ]\n"
        "  prompts = [  # none yet\n  ]\n}\n",
        """\
eval {
  metrics = [
    # leading
    loss,
    accuracy,  # both
    macro_f1,  # last
    # after last
  ]
  prompts = [  # none yet
  ]
}
""",
    ),
    "nested and unknown blocks": (
        'x {\n  inner label {\n      a = 1\n  }\n  much_longer = [1, [2, 3]]\n\n\n  # at the end\n\n}\nname = "q" \n',
        """\
name = "q"

x {
  inner label {
    a = 1
  }
  much_longer = [1, [2, 3]]

  # at the end
}
""",
    ),
    "file header stays on top": (
        '# header of the file\n\n# about data\ndata { train = "a.txt" }\nname = "top"\n',
        """\
# header of the file

name = "top"

# about data
data {
  train = "a.txt"
}
""",
    ),
    "comment on a header line and block ends": (
        'name = "h"\ntrain {  # opens\n  epochs = 1\n\n  # done\n}\neval {\n  # nothing yet\n}\n',
        """\
name = "h"

train {  # opens
  epochs = 1

  # done
}

eval {
  # nothing yet
}
""",
    ),
}

_COMMENT_OR_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"|(#[^\n]*)')


def fmt(text: str) -> str:
    formatted, diags = format_source(text, "t.ft")
    assert formatted is not None, [d.message for d in diags]
    return formatted


def comments(text: str) -> Counter:
    """Every comment's text, found independently of ftspec.spec.fmt's scanner."""
    return Counter(m.group(1).rstrip() for m in _COMMENT_OR_STRING.finditer(text) if m.group(1))


def shape(text: str) -> list:
    """The lowered AST without spans or spellings, top level in the canonical order fmt writes."""
    tree, diags = parse(text, "t.ft")
    assert tree is not None, [d.message for d in diags]
    document, diags = lower(tree, "t.ft", text)
    assert not diags.has_errors
    settings = [item for item in document.items if isinstance(item, Setting)]
    blocks = [item for item in document.items if not isinstance(item, Setting)]
    settings.sort(key=lambda s: TOP_ORDER.index(s.key) if s.key in TOP_ORDER else len(TOP_ORDER))
    blocks.sort(key=lambda b: BLOCK_ORDER.index(b.name) if b.name in BLOCK_ORDER else len(BLOCK_ORDER))
    return _items([*settings, *blocks])


def _items(items) -> list:
    return [
        ("setting", item.key, _value(item.value))
        if isinstance(item, Setting)
        else ("block", item.name, item.label, _items(item.items))
        for item in items
    ]


def _value(value: Value):
    if value.kind == "list":
        return ("list", tuple(_value(v) for v in value.value))
    return (value.kind, value.value)


def inputs() -> list:
    return [pytest.param(p.read_text(encoding="utf-8"), id=p.name) for p in SPECS] + [
        pytest.param(source, id=name) for name, (source, _) in CASES.items()
    ]


@pytest.mark.parametrize("name", [name for name, (_, expected) in CASES.items() if expected is not None])
def test_exact_layout(name):
    source, expected = CASES[name]
    assert fmt(source) == expected


@pytest.mark.parametrize("source", inputs())
def test_idempotent(source):
    once = fmt(source)
    assert fmt(once) == once


@pytest.mark.parametrize("source", inputs())
def test_meaning_kept(source):
    assert shape(fmt(source)) == shape(source)


@pytest.mark.parametrize("source", inputs())
def test_every_comment_kept_once(source):
    assert comments(fmt(source)) == comments(source)


@pytest.mark.parametrize("source", inputs())
def test_layout_invariants(source):
    out = fmt(source)
    assert out == "" or (out.endswith("\n") and not out.endswith("\n\n"))
    assert "\r" not in out and "\n\n\n" not in out
    lines = out.split("\n")
    assert all(line == line.rstrip() and "\t" not in line.split("#")[0] for line in lines)
    assert not re.search(r"\{\n\n|\n\n *\}", out)  # no blank line after `{` or before `}`


def test_a_list_stays_on_one_line_up_to_88_characters():
    exact = "x {\n  k = [" + ", ".join(["abcdefgh"] * 7 + ["abcdefghij"]) + "]\n}\n"
    assert [len(line) for line in fmt(exact).splitlines()] == [3, 88, 1]
    over = exact.replace("abcdefghij", "abcdefghijk")
    assert fmt(over).splitlines()[1:3] == ["  k = [", "    abcdefgh,"]
    assert fmt(over).splitlines()[-3:] == ["    abcdefghijk,", "  ]", "}"]


COMMENT_TAILS = ["", ' "q" # x', "  "]
SCALARS = ['"s"', '"a\\"b"', '"t\tx"', '"#h"', "1_000", "+5", "2e-4", "5%", "80GiB", "true", "cosine"]


def random_spec(rng: random.Random) -> str:
    """A valid spec laid out at random: odd spacing, blank lines, comments anywhere, lists across lines."""
    counter = iter(range(10**6))

    def gap(comment_odds: float = 0.3) -> str:
        comment = f"# c{next(counter)}{rng.choice(COMMENT_TAILS)}" if rng.random() < comment_odds else ""
        return rng.choice(["", " ", "\t", "   "]) + comment

    def value(depth: int = 0) -> str:
        if rng.random() > 0.3 or depth > 1:
            return rng.choice(SCALARS)
        items = [value(depth + 1) + rng.choice([", ", " ,", f",{gap(0.6)}\n"]) for _ in range(rng.randint(0, 4))]
        return "[" + rng.choice(["", f"{gap(0.6)}\n"]) + "".join(items) + "]"

    def setting() -> str:
        return f"{rng.choice(['name', 'domain', 'extends', 'epochs', 'learning_rate', 'k'])}{gap(0)}={gap(0)}{value()}"

    def block(depth: int = 0) -> str:
        name = rng.choice(["train", "data", "base", "eval", "output", "strategy lora", "mystery"])
        items = [block(1) if depth == 0 and rng.random() < 0.15 else setting() for _ in range(rng.randint(0, 4))]
        if len(items) <= 1 and rng.random() < 0.3:
            return f"{name} {{ {''.join(items)} }}"
        body = "".join(f"{gap(0)}{item}{gap()}\n" + "\n" * rng.randint(0, 2) for item in items)
        return f"{name} {{{gap()}\n{body}{gap()}\n}}"

    parts = [(setting() if rng.random() < 0.4 else block()) + gap() for _ in range(rng.randint(0, 6))]
    text = "".join(f"{gap()}\n" * rng.randint(0, 2) + part + "\n" for part in parts) + gap() + "\n"
    return text.replace("\n", "\r\n") if rng.random() < 0.2 else text


@pytest.mark.parametrize("seed", range(4))
def test_random_layouts_round_trip(seed):
    rng = random.Random(seed)
    for _ in range(150):
        source = random_spec(rng)
        once = fmt(source)
        assert fmt(once) == once, source
        assert shape(once) == shape(source) and comments(once) == comments(source), source


def test_format_file_reads_line_endings_as_they_are(tmp_path):
    path = tmp_path / "crlf.ft"
    path.write_bytes(CANONICAL.replace("\n", "\r\n").encode())
    text, formatted, diags = format_file(path)
    assert text != formatted == CANONICAL and not diags


@pytest.mark.parametrize(
    ("source", "code"),
    [("x {\n  a = 1\n", "FT004"), ("a = = 1\n", "FT005"), ('a = "\\q"\n', "FT003"), ("a = 1\n§\n", "FT001")],
)
def test_broken_input_is_not_formatted(source, code):
    formatted, diags = format_source(source, "t.ft")
    assert formatted is None and [d.code for d in diags] == [code]


# The command line.


def ftspec(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(ftspec_command(*args), cwd=cwd, capture_output=True, text=True, input=stdin, timeout=60)


MESSY = 'train {\nepochs=1\n}\nname="x"\n'
CANONICAL = 'name = "x"\n\ntrain {\n  epochs = 1\n}\n'


def test_check_reports_and_fails_without_writing(tmp_path):
    (tmp_path / "messy.ft").write_text(MESSY)
    (tmp_path / "clean.ft").write_text(CANONICAL)
    done = ftspec("fmt", "--check", "messy.ft", "clean.ft", cwd=tmp_path)
    assert done.returncode == 1 and done.stdout == "would reformat messy.ft\n"
    assert (tmp_path / "messy.ft").read_text() == MESSY
    done = ftspec("fmt", "--check", "clean.ft", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout == "" and done.stderr == ""


def test_rewrites_in_place_only_what_changes(tmp_path):
    (tmp_path / "messy.ft").write_bytes(MESSY.replace("\n", "\r\n").encode())
    (tmp_path / "clean.ft").write_text(CANONICAL)
    before = (tmp_path / "clean.ft").stat().st_mtime_ns
    done = ftspec("fmt", "messy.ft", "clean.ft", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout == "formatted messy.ft\n", done.stderr
    assert (tmp_path / "messy.ft").read_bytes() == CANONICAL.encode()
    assert (tmp_path / "clean.ft").stat().st_mtime_ns == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.ft", "messy.ft"]  # no temporary left
    assert ftspec("fmt", "--check", "messy.ft", cwd=tmp_path).returncode == 0


def test_stdin_to_stdout():
    done = ftspec("fmt", "-", cwd=ROOT, stdin=MESSY)
    assert done.returncode == 0 and done.stdout == CANONICAL
    done = ftspec("fmt", "--check", "-", cwd=ROOT, stdin=MESSY)
    assert done.returncode == 1 and done.stdout == "" and "would reformat -" in done.stderr
    assert ftspec("fmt", "--check", "-", cwd=ROOT, stdin=CANONICAL).returncode == 0


def test_a_broken_file_is_reported_and_left_untouched(tmp_path):
    broken = "train {\n  epochs = = 1\n}\n"
    (tmp_path / "broken.ft").write_text(broken)
    (tmp_path / "messy.ft").write_text(MESSY)
    done = ftspec("fmt", "broken.ft", "messy.ft", cwd=tmp_path)
    assert done.returncode == 1
    assert "broken.ft:2:12: FT005" in done.stderr and "broken.ft: 1 error" in done.stderr
    assert "Traceback" not in done.stderr
    assert (tmp_path / "broken.ft").read_text() == broken
    assert (tmp_path / "messy.ft").read_text() == CANONICAL  # the other files are still formatted
    done = ftspec("fmt", "-", cwd=tmp_path, stdin=broken)
    assert done.returncode == 1 and done.stdout == "" and "<stdin>:2:12: FT005" in done.stderr


def test_a_missing_file_is_one_line(tmp_path):
    done = ftspec("fmt", "no-such.ft", cwd=tmp_path)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == "ftspec: cannot format no-such.ft: no such file or directory\n"


def test_shipped_specs_format_to_a_fixed_point(tmp_path):
    for spec in SPECS:
        shutil.copy(spec, tmp_path / spec.name)
    names = [spec.name for spec in SPECS]
    assert ftspec("fmt", *names, cwd=tmp_path).returncode == 0
    done = ftspec("fmt", "--check", *names, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout == ""
    for spec in SPECS:  # at most spaces move: the shipped specs are written in this layout
        assert (tmp_path / spec.name).read_text().split() == spec.read_text().split()


def test_shipped_specs_are_canonical():
    for spec in SPECS:
        text = spec.read_text(encoding="utf-8")
        assert format_source(text, str(spec))[0] == text, f"{spec.name} is not in the canonical layout"
