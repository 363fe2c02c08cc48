"""`ftspec chat`: answers through piped standard input, `--prompt` and a real pseudo-terminal, with
the base beside the tuned model under `--compare`, a classifier's label and probabilities, Ctrl-C
leaving cleanly, and a clear message for a spec that never ran."""

from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest
import tinymodels
from conftest import ftspec_command

from ftspec import api

pytestmark = pytest.mark.slow

INSTRUCTION = """name = "coach"
base {{ model = "{base}" }}
data {{
  train      = "{data}"
  format     = instruction
  prompt     = "question"
  response   = "answer"
  eval_split = 25%
  max_length = 96
}}
strategy lora {{
  rank = 4
}}
train {{
  max_steps     = 4
  batch_size    = 8
  learning_rate = 1e-3
}}
eval {{
  max_new_tokens = 6
}}
output {{
  dir = "runs/coach"
}}
"""
CLASSIFIER = """name = "sorter"
base {{ model = "{base}" }}
data {{
  train      = "{data}"
  format     = classification
  text       = "comment"
  label      = "sentiment"
  labels     = [negative, neutral, positive]
  eval_split = 20%
  max_length = 32
}}
strategy full {{ }}
train {{
  max_steps  = 2
  batch_size = 8
}}
output {{
  dir = "runs/sorter"
}}
"""


def build(root: Path, name: str, text: str) -> Path:
    """Write and train a spec the way `ftspec run` would, without its evaluation."""
    spec = root / f"{name}.ft"
    spec.write_text(text)
    result = api.compile_spec(spec, None, target="cpu")
    assert result.ok, [d.message for d in result.diagnostics]
    api.write(result.files, result.plan.output.dir)
    tinymodels.run_script(result.plan.output.dir / "train.py")
    return spec


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("chat")
    (root / "pyproject.toml").write_text("")
    data = tinymodels.datasets(root / "data")
    base = tinymodels.causal_model(root / "base")
    coach = build(root, "coach", INSTRUCTION.format(base=base, data=data["instruction"]))
    return {"root": root, "coach": coach, "data": data, "base": base}


def chat(project, *args, stdin=""):
    done = subprocess.run(
        ftspec_command("chat", str(project["coach"]), *args),
        cwd=project["root"],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_piped_questions_get_one_answer_each_and_no_session_prompt(project):
    out = chat(project, stdin="How do I bowl a yorker?\n\nHow do I grip the bat?\n")
    lines = out.splitlines()
    assert len(lines) == 2 and all(line.strip() for line in lines), out
    assert ">" not in out and "listening" not in out


def test_compare_shows_the_base_beside_the_tuned_model(project):
    out = chat(project, "--compare", "--prompt", "How do I bowl a yorker?", "--prompt", "What is a maiden over?")
    lines = out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["base", "tuned", "base", "tuned"], out


@contextlib.contextmanager
def harness_of(project):
    """The run's eval.py, imported, with its tokenizer and tuned model."""
    import sys

    run_dir = project["root"] / "runs" / "coach"
    sys.path.insert(0, str(run_dir))
    try:
        import eval as harness

        tokenizer = harness.load_tokenizer()
        yield harness, tokenizer, harness.load_models("cpu", compare=False)["tuned"]
    finally:
        sys.path.remove(str(run_dir))
        for name in ("eval", "train"):
            sys.modules.pop(name, None)


def test_chat_answers_exactly_as_eval_generates(project):
    """The same prompt template and generation settings: chat's answer is eval.py's answer."""
    out = chat(project, "--prompt", "How do I bowl a yorker?")
    with harness_of(project) as (harness, tokenizer, model):
        text = harness.prompt_text("How do I bowl a yorker?", tokenizer)
        expected = harness.generate(model, text, tokenizer, "cpu")
    assert out.strip() == expected


def test_answers_in_a_padded_batch_are_the_answers_one_at_a_time(project):
    """eval.py answers the held-out questions a batch at a time, padded on the left: the same answers."""
    asked = ["How do I bowl a yorker?", "Why?", "When should a batter leave the ball outside off stump in a test?"]
    with harness_of(project) as (harness, tokenizer, model):
        texts = [harness.prompt_text(question, tokenizer) for question in asked]
        alone = [harness.generate(model, text, tokenizer, "cpu") for text in texts]
        batched = harness.generate_all(model, texts, tokenizer, "cpu", batch=3)
        assert tokenizer.padding_side == "right"  # put back after the batch
    assert len({len(tokenizer(text)["input_ids"]) for text in texts}) == 3  # so the batch pads
    assert batched == alone and all(alone)


def read_until(fd: int, wanted: str, seconds: float = 180) -> str:
    seen, deadline = "", time.monotonic() + seconds
    while wanted not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if ready:
            try:
                seen += os.read(fd, 4096).decode(errors="replace")
            except OSError:
                break
    return seen


def test_a_terminal_session_answers_streams_and_leaves_on_ctrl_c(project):
    pid, fd = pty.fork()
    if pid == 0:  # the child: ftspec chat on the pseudo-terminal
        # A shell starts background jobs with Ctrl-C ignored, and an exec keeps what is ignored: let it through.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.chdir(project["root"])
        command = ftspec_command("chat", str(project["coach"]), "--compare")
        os.execv(command[0], command)
    try:
        assert "> " in read_until(fd, "> ")
        os.write(fd, b"How do I bowl a yorker?\r")
        answer = read_until(fd, "> ")
        assert "base:" in answer and "tuned:" in answer and answer.rstrip().endswith(">")
        os.write(fd, b"\x03")  # Ctrl-C: the terminal interrupts the whole foreground process group
        rest = read_until(fd, "never appears", seconds=20)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert "Traceback" not in answer + rest
    assert os.waitstatus_to_exitcode(status) == 130


def test_a_classifier_prints_the_label_and_every_probability(project):
    # The tiny decoder with a classification head: what is printed matters here, not how well.
    text = CLASSIFIER.format(base=project["base"], data=project["data"]["classification"])
    spec = build(project["root"], "sorter", text)
    done = subprocess.run(
        ftspec_command("chat", str(spec), "--prompt", "The nurse was kind."),
        cwd=project["root"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    label, _, shares = done.stdout.strip().partition(" (")
    assert label in {"negative", "neutral", "positive"}
    chances = dict(part.split() for part in shares.rstrip(")").split(", "))
    assert set(chances) == {"negative", "neutral", "positive"}
    assert sum(float(p) for p in chances.values()) == pytest.approx(1.0, abs=2e-3)


def test_a_spec_that_never_ran_names_the_command_that_builds_it(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"question": "q", "answer": "a"}\n')
    spec = tmp_path / "new.ft"
    spec.write_text(
        'name = "new"\nbase { model = "org/m" }\ndata {\n  train = "d.jsonl"\n  format = instruction\n'
        '  prompt = "question"\n  response = "answer"\n}\nstrategy lora { }\n'
    )
    done = subprocess.run(ftspec_command("chat", str(spec)), cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 1
    assert "new has never run" in done.stderr and "ftspec run" in done.stderr
