"""The data check: every fault kind with its exact message, the quality report's figures, and the commands.

Each test writes a spec and its data into a temporary directory and checks it
from there, so the data files show as short relative paths.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SHIPPED_ADVICE, ftspec_command

from ftspec import api
from ftspec.cli.main import main
from ftspec.datacheck.rows import DataFile, paragraphs
from ftspec.diagnostics import Diagnostic, Span, render

LORA = 'name = "demo"\nbase { model = "org/model" }\nstrategy lora { }\n'
INSTRUCTION = 'data {\n  train = "qa.jsonl"\n  format = instruction\n  prompt = "q"\n  response = "a"\n}\n'
CLASSIFY = (
    'data {\n  train = "%s"\n  format = classification\n  text = "comment"\n  label = "sentiment"\n'
    "  labels = [negative, neutral, positive]\n}\n"
)


def plain_check(tmp_path: Path, monkeypatch, data: str, files: dict[str, str | bytes], head: str = LORA):
    """Write the spec (``head`` + ``data``) and ``files`` into ``tmp_path``, then check the spec from there."""
    monkeypatch.chdir(tmp_path)
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    (tmp_path / "spec.ft").write_text(head + data, encoding="utf-8")
    return api.check(tmp_path / "spec.ft", target="cpu")


def check(tmp_path: Path, monkeypatch, data: str, files: dict[str, str | bytes], head: str = LORA):
    """``plain_check``, which must pass, then the data check."""
    result = plain_check(tmp_path, monkeypatch, data, files, head)
    assert result.ok, [d.message for d in result.diagnostics]
    return api.check_data(result.plan)


def found(report) -> list[tuple[str, str | None, str]]:
    return [(d.code, str(d.span) if d.span else None, d.message) for d in report.diagnostics]


def rows(*objects) -> str:
    return "".join(json.dumps(o) + "\n" for o in objects)


# --- Faults, one kind each ---------------------------------------------------------------------------


def test_invalid_utf8_gives_line_and_byte(tmp_path, monkeypatch):
    data = b'{"text": "fine"}\n{"text": "caf\xc3\xa9 \xff!"}\n'
    report = check(tmp_path, monkeypatch, 'data { train = "t.jsonl" }\n', {"t.jsonl": data})
    assert found(report) == [("FT601", "t.jsonl:2:16", "byte 0xff at byte 17 of this line is not UTF-8")]
    assert report.diagnostics[0].span.column == 16  # a character column: `é` is two bytes but one column


def test_truncated_json_line(tmp_path, monkeypatch):
    report = check(tmp_path, monkeypatch, 'data { train = "t.jsonl" }\n', {"t.jsonl": '{"text": "ok"}\n{"text": "cut'})
    assert found(report) == [("FT602", "t.jsonl:2:10", "the row ends inside a string: is the line cut short?")]


def test_trailing_garbage_after_a_json_object(tmp_path, monkeypatch):
    report = check(tmp_path, monkeypatch, 'data { train = "t.jsonl" }\n', {"t.jsonl": '{"text": "ok"} {"x": 1}\n'})
    assert found(report) == [("FT602", "t.jsonl:1:16", "text after the end of the JSON object")]
    assert report.diagnostics[0].span.end_column == 24


def test_a_json_row_that_is_not_an_object(tmp_path, monkeypatch):
    report = check(
        tmp_path, monkeypatch, 'data { train = "t.jsonl" }\n', {"t.jsonl": '{"text": "ok"}\n\n"just text"\n'}
    )
    assert found(report) == [("FT602", "t.jsonl:3:1", "this row is a string, not a JSON object")]


def test_a_json_list_file_locates_each_element(tmp_path, monkeypatch):
    text = '[\n  {"text": "one"},\n  {"text": "two"},\n  [1, 2],\n  {"text":\n     "four"}\n'
    report = check(tmp_path, monkeypatch, 'data { train = "t.json" }\n', {"t.json": text})
    assert found(report) == [
        ("FT602", "t.json:4:3", "this row is a list, not a JSON object"),
        ("FT602", "t.json:7:1", "the file ends before the list's closing `]`: is it cut short?"),
    ]
    assert report.quality.train.rows == 3


def test_a_ragged_csv_row(tmp_path, monkeypatch):
    csv = 'comment,sentiment\nfine and well,positive\n"a, b and c",neutral\nx, y,negative\n'
    report = check(tmp_path, monkeypatch, CLASSIFY % "f.csv", {"f.csv": csv})
    assert found(report) == [("FT603", "f.csv:4:1", "this row has 3 fields but the header has 2")]
    assert report.diagnostics[0].help == 'quote a field that holds commas or line breaks, such as "one, two"'


@pytest.mark.parametrize("name, content", [("t.jsonl", ""), ("t.csv", "text\n"), ("t.txt", "\n\n")])
def test_an_empty_file(tmp_path, monkeypatch, name, content):
    report = check(tmp_path, monkeypatch, f'data {{ train = "{name}" }}\n', {name: content})
    assert found(report) == [("FT604", "spec.ft:4:16", f"`{name}` has no rows")]


def test_a_missing_column_lists_the_columns_and_a_likely_one(tmp_path, monkeypatch):
    """Plain `check` reads the first rows, so it finds a missing column without `--data`."""
    data = rows({"q": "What?", "answer": "That."})
    report = plain_check(tmp_path, monkeypatch, INSTRUCTION, {"qa.jsonl": data})
    assert found(report) == [("FT605", "spec.ft:8:14", "there is no column `a` in `qa.jsonl`")]
    assert report.diagnostics[0].help == "the file's columns are `q`, `answer`; set `data.response` to one of them"
    files = {"t.jsonl": rows({"txt": "hello there"})}
    report = plain_check(tmp_path, monkeypatch, 'data { train = "t.jsonl" }\n', files)
    assert report.diagnostics[0].help == (
        "did you mean `txt`? the file's columns are `txt`; set `data.text` to one of them"
    )


def test_an_optional_column_missing_from_the_first_rows_only_is_left_to_the_data_check(tmp_path, monkeypatch):
    spec = INSTRUCTION.replace("}\n", '  template = "{q} {extra}"\n}\n')
    data = rows(*[{"q": "What?", "a": "That."}] * 20, {"q": "Why?", "extra": "x", "a": "This."})
    report = check(tmp_path, monkeypatch, spec, {"qa.jsonl": data})
    assert "FT609" not in [d.code for d in report.diagnostics]


def test_a_label_outside_the_declared_labels(tmp_path, monkeypatch):
    csv = "comment,sentiment\ngood care,positive\nslow service,negatve\n"
    report = check(tmp_path, monkeypatch, CLASSIFY % "f.csv", {"f.csv": csv})
    assert found(report) == [("FT606", "f.csv:3:14", "label `negatve` is not one of `data.labels`")]
    assert report.diagnostics[0].help.startswith("did you mean `negative`? the labels are `negative`, `neutral`")


def test_empty_texts_are_counted_and_the_first_located(tmp_path, monkeypatch):
    data = rows(*({"q": "What?", "a": a} for a in ("Fine.", " \t", "Good.", "", "Yes.")), {"q": "Who?"})
    report = check(tmp_path, monkeypatch, INSTRUCTION, {"qa.jsonl": data})
    assert found(report) == [
        ("FT607", "qa.jsonl:2:21", "`a` is empty or missing in this row and 2 more (lines 4, 6)"),
    ]


def test_text_paragraphs_that_are_only_whitespace(tmp_path, monkeypatch):
    report = check(tmp_path, monkeypatch, 'data { train = "t.txt" }\n', {"t.txt": "one para\n\n  \n\ntwo\n"})
    assert found(report) == [("FT607", "t.txt:3:1", "`text` is empty in this row")]


@pytest.mark.parametrize(
    "messages, message, where",
    [
        ("hi", "the conversation is a string, not a list of messages", "1:14"),
        ([{"role": "user"}], "message 1 is not a {role, content} object with text in both", "1:14"),
        ([{"role": "bot", "content": "x"}], "message 1 has the unknown role `bot`", "1:24"),
        (
            [{"role": "user", "content": "hi"}],
            "the conversation has no `assistant` turn, so nothing in it is learned",
            "1:14",
        ),
    ],
)
def test_chat_rows_that_cannot_train(tmp_path, monkeypatch, messages, message, where):
    report = check(
        tmp_path,
        monkeypatch,
        'data {\n  train = "c.jsonl"\n  format = chat\n}\n',
        {"c.jsonl": rows({"messages": messages})},
    )
    assert found(report) == [("FT608", f"c.jsonl:{where}", message)]


def test_a_template_placeholder_without_a_column(tmp_path, monkeypatch):
    spec = INSTRUCTION.replace("}\n", '  template = "{ctx}: {q}"\n}\n')
    report = check(tmp_path, monkeypatch, spec, {"qa.jsonl": rows({"context": "c", "q": "What?", "a": "That."})})
    assert found(report) == [("FT609", "spec.ft:9:14", "template placeholder `{ctx}` names no column of `qa.jsonl`")]


def test_each_kind_is_shown_five_times_then_counted_and_all_kinds_are_found(tmp_path, monkeypatch):
    lines = ["{bad"] * 8 + ['{"comment": "c", "sentiment": "odd"}'] * 7 + ['{"comment": "", "sentiment": "neutral"}']
    report = check(tmp_path, monkeypatch, CLASSIFY % "f.jsonl", {"f.jsonl": "\n".join(lines) + "\n"})
    codes = [d.code for d in report.diagnostics]
    assert codes == ["FT602"] * 6 + ["FT606"] * 6 + ["FT607"]
    assert report.diagnostics[5].message == "and 3 more rows like this in `f.jsonl`: lines 6, 7, 8"
    assert report.diagnostics[5].span is None
    assert report.diagnostics[11].message == "and 2 more rows like this in `f.jsonl`: lines 14, 15"


def test_parquet_rows_are_named_by_number(tmp_path, monkeypatch):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"comment": ["good", "bad"], "sentiment": ["positive", "nope"]}), tmp_path / "f.parquet")
    report = check(tmp_path, monkeypatch, CLASSIFY % "f.parquet", {})
    assert found(report) == [
        ("FT606", "spec.ft:5:11", "label `nope` is not one of `data.labels` (row 2 of `f.parquet`)")
    ]


@pytest.mark.parametrize("text", ["a\n\n\n\nb", "a\n\n\nb\n", "\n\na\n\n", "a\n\n \n\nb\n\n\n", "x", "a\nb\n\nc"])
def test_paragraphs_are_cut_as_the_text_loader_cuts_them(tmp_path, text):
    (tmp_path / "t.txt").write_text(text)
    data = DataFile(tmp_path / "t.txt", "t.txt", Span("spec.ft", 1, 1, 1, 2), "text")
    assert [row.values["text"] for row in paragraphs(data, None)] == [p for p in text.split("\n\n") if p]


# --- The quality report ------------------------------------------------------------------------------


def word_tokenizer(directory: Path, words: list[str]) -> None:
    """A tokenizer.json whose tokens are whole words, so a text's token count is its word count."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(["[UNK]", *words])}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(directory / "tokenizer.json"))
    (directory / "config.json").write_text(json.dumps({"model_type": "llama"}))


def test_quality_figures_with_a_local_tokenizer(tmp_path, monkeypatch):
    word_tokenizer(tmp_path / "base", ["x"])
    texts = ["one two three four", "one  two\nthree four", "hi there", "a b c d e f g h i j k l", "ok", "p q r"]
    head = 'name = "demo"\nbase { model = "./base" }\nstrategy lora { }\n'
    spec = 'data {\n  train = "t.jsonl"\n  packing = false\n  max_length = 8\n  eval_split = 50%\n}\n'
    report = check(tmp_path, monkeypatch, spec, {"t.jsonl": rows(*({"text": t} for t in texts))}, head)
    quality = report.quality
    train = quality.train
    assert quality.tokenizer == tmp_path / "base" / "tokenizer.json" and not quality.estimated
    assert (train.rows, train.duplicates, train.near_empty) == (6, 1, 2)
    assert (train.first_duplicate, train.first_near_empty) == ((tmp_path / "t.jsonl", 2), (tmp_path / "t.jsonl", 3))
    # Words plus the end-of-text token the script appends: 5, 5, 3, 13, 2, 4.
    assert (train.min, train.median, train.p90, train.max, train.tokens) == (2, 4, 13, 13, 32)
    assert train.over_max_length == 1 and quality.held_out == 3
    # Text is cut into pieces, never truncated: no FT703 for it.
    assert [d.code for d in report.diagnostics] == ["FT701", "FT702"]


def test_truncation_is_counted_in_the_base_tokenizer_tokens(tmp_path, monkeypatch):
    word_tokenizer(tmp_path / "base", ["x"])
    head = 'name = "demo"\nbase { model = "./base" }\nstrategy lora { }\n'
    spec = INSTRUCTION.replace("}\n", "  template = plain\n  max_length = 8\n}\n")
    answers = ["a b c", "a b c d e f g", "a b", "one two three four five", "x y z"]
    report = check(tmp_path, monkeypatch, spec, {"qa.jsonl": rows(*({"q": "Why so?", "a": a} for a in answers))}, head)
    train = report.quality.train
    # "Why so?\n" is 2 words, then the answer's words and the end-of-text token: 6, 10, 5, 8, 6.
    assert (train.min, train.median, train.p90, train.max, train.over_max_length) == (5, 6, 10, 10, 1)
    assert found(report) == [
        (
            "FT703",
            "spec.ft:5:11",
            "1 of 5 training examples (20.0%) are longer than `max_length = 8` tokens and will be cut",
        )
    ]
    assert report.diagnostics[0].help == (
        "raise `data.max_length`: 90% of the examples fit in 10 tokens and the longest has 10; or shorten the examples"
    )


def test_label_balance_and_leaks_into_eval(tmp_path, monkeypatch):
    train = "comment,sentiment\n" + "".join(f"good visit {i},positive\nbad visit {i},negative\n" for i in range(20))
    train += "an ordinary visit today,neutral\n"
    held = "comment,sentiment\ngood visit 3,positive\na new one here,neutral\n"
    spec = (CLASSIFY % "train.csv").replace("}\n", '  eval = "eval.csv"\n}\n')
    report = check(tmp_path, monkeypatch, spec, {"train.csv": train, "eval.csv": held})
    quality = report.quality
    assert quality.train.labels == {"negative": 20, "neutral": 1, "positive": 20}
    assert quality.eval.labels == {"negative": 0, "neutral": 1, "positive": 1}
    assert quality.eval.also_in_train == 1 and quality.held_out is None and quality.estimated
    assert found(report) == [("FT704", "spec.ft:5:11", "label `neutral` has 1 of 41 training rows (2.4%)")]
    table = report.table()
    assert "labels       negative 20 (48.8%) · neutral 1 (2.4%) · positive 20 (48.8%)" in table
    assert "1 also in train" in table and "estimated at 4 characters a token" in table
    saved = json.loads(report.to_json(tmp_path / "runs" / "demo"))
    assert saved["train"]["files"] == ["../../train.csv"] and saved["tokens_estimated"] is True


def test_packed_text_is_cut_into_pieces_not_warned_about(tmp_path, monkeypatch):
    text = "\n\n".join(["See also:", "See also:", "word " * 600])
    spec = 'data {\n  train = "t.txt"\n  max_length = 64\n}\n'
    report = check(tmp_path, monkeypatch, spec, {"t.txt": text})
    assert report.diagnostics == []
    assert report.quality.train.duplicates == 1 and report.quality.train.over_max_length == 1
    assert "split into 64-token pieces (nothing is lost)" in report.table()


# --- Long lines ----------------------------------------------------------------------------------------


def test_a_long_line_is_shown_as_a_window_around_the_span():
    line = "a" * 500 + "XYZ" + "b" * 500
    shown = render(Diagnostic("FT602", "m", Span("f", 1, 501, 1, 504)), {"f": line})
    source, carets = shown.splitlines()[1:3]
    assert source.startswith("   1 | …") and source.endswith("…") and len(source) < 140
    assert source[carets.index("^") : carets.rindex("^") + 1] == "XYZ"


def test_a_50_mb_truncated_json_line_is_found_and_shown_small(tmp_path, monkeypatch, capsys):
    # How fast it is found is bench/big_rows.py's figure, next to json's own parse of the same bytes.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "big.jsonl").write_text('{"text": "' + "lorem ipsum " * 4_400_000)  # 52.8 MB, no closing quote
    (tmp_path / "spec.ft").write_text(LORA + 'data { train = "big.jsonl" }\n')
    status = main(["check", "--data", "spec.ft"])
    err = capsys.readouterr().err
    assert status == 1
    assert "big.jsonl:1:10: FT602 the row ends inside a string: is the line cut short?" in err
    assert len(err.encode()) < 2048, err


# --- The commands --------------------------------------------------------------------------------------


def test_check_data_passes_on_the_shipped_specs():
    specs = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "specs").glob("*.ft"))
    done = subprocess.run(
        ftspec_command("check", "--data", *specs), cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    warned = {code for codes in SHIPPED_ADVICE.values() for code in codes}
    assert {code for code in re.findall(r": (FT\d{3}) ", done.stderr)} == warned
    assert done.stdout.count(": ok") == len(specs) - len(SHIPPED_ADVICE)
    # One quality table per data source: a mixture's labelled `data NAME { }` blocks each get their own.
    sources = [len(re.findall(r"^data \w+ \{", (ROOT / spec).read_text(), re.M)) or 1 for spec in specs]
    assert done.stdout.count("data quality of") == sum(sources)


def test_check_data_does_not_import_the_training_stack():
    code = (
        "import sys\nfrom ftspec.cli.main import main\n"
        "specs = ['specs/cricket-coach.ft', 'specs/clinic-sentiment.ft', 'specs/tiny-base.ft']\n"
        "status = main(['check', '--data', *specs])\n"
        "print(sorted(m for m in ('torch', 'transformers', 'datasets', 'peft') if m in sys.modules))\n"
        "sys.exit(status)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


def fake_project(tmp_path: Path, data: str) -> Path:
    """A project with a local base that is only a config.json: enough to plan, never to train."""
    (tmp_path / "pyproject.toml").write_text("")
    base = tmp_path / "base"
    base.mkdir()
    config = {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}
    (base / "config.json").write_text(json.dumps({**config, "intermediate_size": 128, "vocab_size": 256}))
    (tmp_path / "qa.jsonl").write_text(data)
    spec = 'name = "demo"\nbase { model = "./base" }\nstrategy lora { }\n' + INSTRUCTION
    (tmp_path / "spec.ft").write_text(spec)
    return tmp_path / "spec.ft"


def test_run_refuses_to_launch_on_bad_data(tmp_path):
    fake_project(tmp_path, rows({"q": "What?", "a": "That."}) + '{"q": "cut\n')
    done = subprocess.run(ftspec_command("run", "spec.ft"), cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "qa.jsonl:2:7: FT602 the row ends inside a string" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "runs").exists()


def test_run_saves_the_data_report_with_the_run(tmp_path, monkeypatch):
    from ftspec.run import launch as runner

    if runner.missing_stack():
        pytest.skip("the training stack is not installed")
    spec = fake_project(tmp_path, rows({"q": "What?", "a": "That."}, {"q": "Why?", "a": "Because."}))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runner, "launch", lambda *args: 0)  # nothing is trained here
    monkeypatch.setattr(runner, "run_eval", lambda plan, offline=False: 0, raising=False)
    assert runner.run(spec, target="cpu") == 0
    saved = json.loads((tmp_path / "runs" / "demo" / "data-report.json").read_text())
    assert saved["train"]["rows"] == 2 and saved["train"]["files"] == ["../../qa.jsonl"]
