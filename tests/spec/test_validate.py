"""Validation: every semantic error of a file in one run, each pointing at its cause."""

from __future__ import annotations

from pathlib import Path

from ftspec import api
from ftspec.diagnostics import render_all

BROKEN = """name = "broken"
base { model = "org/model" }
data {
  train  = "train.jsonl"
  fromat = instruction
}
strategy lorra { }
train {
  epochs        = "3"
  learning_rate = -1
  scheduler     = cosin
}
eval { compare_base = true }
"""


def test_all_semantic_errors_in_one_run(tmp_path, monkeypatch):
    (tmp_path / "train.jsonl").write_text('{"text": "x"}\n')
    (tmp_path / "broken.ft").write_text(BROKEN)
    monkeypatch.chdir(tmp_path)
    result = api.check(Path("broken.ft"))
    found = [(d.code, d.span.line, d.span.column) for d in result.diagnostics]
    assert found == [
        ("FT102", 5, 3),  # misspelled key
        ("FT103", 7, 10),  # unknown strategy kind
        ("FT105", 9, 19),  # wrong type
        ("FT106", 10, 19),  # out of range
        ("FT104", 11, 19),  # unknown enum value
    ]
    text = render_all(result.diagnostics, result.sources)
    assert "did you mean `format`?" in text and "did you mean `lora`?" in text and "did you mean `cosine`?" in text


def test_combination_errors_point_at_their_cause(tmp_path, monkeypatch):
    (tmp_path / "train.jsonl").write_text('{"text": "x"}\n')
    (tmp_path / "c.ft").write_text(
        'name = "c"\nbase { model = "org/m" }\ndata {\n  train = "train.jsonl"\n  format = classification\n'
        '  label = "y"\n  labels = [a, b]\n  packing = true\n}\ntokenizer { train = true }\nstrategy scratch { }\n'
        "eval { metrics = [perplexity] }\n"
    )
    monkeypatch.chdir(tmp_path)
    codes = [(d.code, d.span.line) for d in api.check(Path("c.ft")).diagnostics]
    assert codes == [("FT201", 2), ("FT203", 8), ("FT211", 12)]


def test_inherited_settings_point_into_the_parent(tmp_path, monkeypatch):
    (tmp_path / "train.jsonl").write_text('{"text": "x"}\n')
    (tmp_path / "parent.ft").write_text(
        'name = "p"\nbase { model = "org/m" }\ndata { train = "train.jsonl" }\n'
        "strategy lora { }\ntrain { epochs = 0 }\n"
    )
    (tmp_path / "child.ft").write_text('extends = "parent.ft"\nname = "c"\n')
    monkeypatch.chdir(tmp_path)
    [diagnostic] = api.check(Path("child.ft")).diagnostics
    assert (diagnostic.code, diagnostic.span.path, diagnostic.span.line) == ("FT106", "parent.ft", 5)


def test_set_overrides_are_validated_like_the_file(tmp_path, monkeypatch):
    (tmp_path / "train.jsonl").write_text('{"text": "x"}\n')
    (tmp_path / "s.ft").write_text(
        'name = "s"\nbase { model = "org/m" }\ndata { train = "train.jsonl" }\nstrategy lora { }\n'
    )
    monkeypatch.chdir(tmp_path)
    good = api.check(Path("s.ft"), ("train.learning_rate=1e-4", "strategy.rank = 4"))
    assert good.ok and good.plan.train.learning_rate == 1e-4 and good.plan.strategy.peft["r"] == 4
    [bad] = api.check(Path("s.ft"), ("train.sheduler=cosine",)).diagnostics
    assert bad.code == "FT102" and bad.span.path == "<--set 1>" and "did you mean `scheduler`?" in bad.help


def test_a_key_in_the_wrong_block_names_its_block_and_a_far_guess_lists_the_settings(tmp_path, monkeypatch):
    (tmp_path / "train.jsonl").write_text('{"text": "x"}\n')
    (tmp_path / "w.ft").write_text(
        'name = "w"\nbase { model = "org/m" }\ndata {\n  train = "train.jsonl"\n  learning_rat = 0.1\n}\n'
        'strategy lora { }\nhardware { target = "l4" }\n'
    )
    monkeypatch.chdir(tmp_path)
    helps = [(d.code, d.span.line, d.help) for d in api.check(Path("w.ft")).diagnostics]
    assert helps == [
        ("FT102", 5, "did you mean `learning_rate`? it belongs in the `train` block"),
        (
            "FT102",
            8,
            "settings in `hardware`: nodes, gpus, gpu, gpu_memory, processes, distributed, offload, host_memory,"
            " installed, launcher, max_restarts, image, volume",
        ),
    ]


def test_a_base_model_in_an_unknown_users_home_is_a_diagnostic_not_a_crash(tmp_path, monkeypatch):
    # Found by bench/fuzz.py: Path.expanduser raises on `~nosuchuser`.
    (tmp_path / "train.jsonl").write_text('{"text": "x"}\n')
    (tmp_path / "s.ft").write_text(
        'name = "s"\nbase { model = "~nosuchuser/m" }\ndata { train = "train.jsonl" }\nstrategy lora { }\n'
    )
    monkeypatch.chdir(tmp_path)
    result = api.check(Path("s.ft"))
    assert [d.code for d in result.diagnostics if d.is_error] == ["FT303"]
