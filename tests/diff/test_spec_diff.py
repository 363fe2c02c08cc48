"""`ftspec diff`: changes of meaning between specs, their consequences, the data, and git revisions."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, ftspec_command

from ftspec.diff.spec import RevisionError, compare

LR_DIFF = """\
settings:
  train.learning_rate: 3e-3 → 1e-4

consequences:
  peak learning rate: 3e-3 → 1e-4
"""

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def ftspec(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(ftspec_command(*args), cwd=cwd, capture_output=True, text=True, timeout=60)


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", "-c", "commit.gpgsign=false", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def project(tmp_path) -> Path:
    """A copy of the shipped specs and data, so tests may change them."""
    root = tmp_path / "project"
    shutil.copytree(ROOT / "specs", root / "specs")
    for name in ("cricket", "general"):
        shutil.copytree(ROOT / "data" / name, root / "data" / name)
    return root


@pytest.fixture
def repo(project) -> Path:
    """The project as a git repository with one commit."""
    git("init", "-q", cwd=project)
    git("config", "user.name", "ftspec tests", cwd=project)
    git("config", "user.email", "tests@ftspec.invalid", cwd=project)
    git("add", "-A", cwd=project)
    git("commit", "-q", "-m", "specs and data", cwd=project)
    return project


def variant(project: Path, name: str, body: str) -> str:
    (project / "specs" / name).write_text(f'extends = "cricket-coach.ft"\n{body}\n', encoding="utf-8")
    return f"specs/{name}"


def test_an_extended_learning_rate_is_one_change_and_its_consequence(project):
    new = variant(project, "slower.ft", "train { learning_rate = 1e-4 }")
    done = ftspec("diff", "specs/cricket-coach.ft", new, cwd=project)
    assert (done.returncode, done.stdout, done.stderr) == (0, LR_DIFF, "")
    # With a known target the duration is estimated on both sides, and the learning rate does not move it.
    done = ftspec("diff", "specs/cricket-coach.ft", new, "--target", "h100", cwd=project)
    assert (done.returncode, done.stdout) == (0, LR_DIFF)


def test_a_changed_batch_size_shows_the_batch_and_the_steps(project):
    new = variant(project, "bigger.ft", "train { batch_size = 16 }")
    done = ftspec("diff", "specs/cricket-coach.ft", new, cwd=project)
    assert done.returncode == 0, done.stderr
    settings, consequences = done.stdout.split("\n\n")
    assert settings == "settings:\n  train.batch_size: 4 → 16"
    assert "  effective batch: 4 → 16" in consequences.splitlines()
    assert "  micro-batch × accumulation × processes: 4 × 1 × 1 → 16 × 1 × 1" in consequences.splitlines()
    assert "  optimizer steps: 552 → 144" in consequences.splitlines()
    assert "learning rate" not in consequences and "what the model learns from" not in done.stdout


def test_same_meaning_written_differently_is_no_change(project, monkeypatch):
    monkeypatch.chdir(project)
    body = 'train { learning_rate = 0.003\n warmup = 5% }\ndata { format = "instruction" }'
    outcome = compare("specs/cricket-coach.ft", variant(project, "same.ft", body))
    assert outcome.ok and outcome.diff.empty
    assert outcome.diff.text() == "no differences in meaning"


def test_added_removed_and_kind_changes(project, monkeypatch):
    monkeypatch.chdir(project)
    body = "train { warmup = 5 }\nstrategy qlora { bits = 4 }\neval { compare_base = false }"
    new = variant(project, "other.ft", body)
    diff = compare("specs/cricket-coach.ft", new).diff
    lines = [change.line() for change in diff.settings]
    assert lines == [
        "strategy: full {} → qlora { bits = 4 }",
        "train.warmup: 5% → 5",  # a step count is not a percentage
        "eval.compare_base: true → false",
    ]
    (project / "specs" / "fewer.ft").write_text(
        (project / "specs" / "cricket-coach.ft").read_text().replace("  packing    = true\n", "")
    )
    assert [c.line() for c in compare("specs/cricket-coach.ft", "specs/fewer.ft").diff.settings] == [
        "- data.packing = true"
    ]
    assert [c.line() for c in compare("specs/fewer.ft", "specs/cricket-coach.ft").diff.settings] == [
        "+ data.packing = true"
    ]


def test_masking_changes_what_the_model_learns_from(project, monkeypatch):
    monkeypatch.chdir(project)
    diff = compare("specs/cricket-coach.ft", variant(project, "mask.ft", "data { train_on_prompt = true }")).diff
    assert [c.line() for c in diff.learns_from] == ["train on prompt: false → true"]


@needs_git
def test_a_revision_against_the_working_tree(repo):
    spec = repo / "specs" / "cricket-coach.ft"
    spec.write_text(spec.read_text().replace("learning_rate = 3e-3", "learning_rate = 1e-4"))
    done = ftspec("diff", "HEAD:specs/cricket-coach.ft", "specs/cricket-coach.ft", cwd=repo)
    assert (done.returncode, done.stdout, done.stderr) == (0, LR_DIFF, "")
    # `./` starts from the working directory, as `git show` reads it.
    done = ftspec("diff", "HEAD:./cricket-coach.ft", "cricket-coach.ft", cwd=repo / "specs")
    assert (done.returncode, done.stdout) == (0, LR_DIFF)


@needs_git
def test_changed_data_under_the_same_path_is_flagged(repo):
    with (repo / "data" / "cricket" / "coaching.jsonl").open("a") as file:
        file.write('{"question": "What is a yorker?", "answer": "A full ball aimed at the batter\'s feet."}\n')
    done = ftspec("diff", "HEAD:specs/cricket-coach.ft", "specs/cricket-coach.ft", "--json", cwd=repo)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["settings"] == []
    [change] = found["learns_from"]
    assert change["key"] == "content of data/cricket/coaching.jsonl"
    assert change["old"] != change["new"] and change["new"].startswith("sha256:")
    text = ftspec("diff", "HEAD:specs/cricket-coach.ft", "specs/cricket-coach.ft", cwd=repo).stdout
    assert "what the model learns from changes:\n  content of data/cricket/coaching.jsonl: sha256 " in text


@needs_git
def test_a_revision_names_its_diagnostics_and_missing_data(repo):
    variant(repo, "typo.ft", "train { scheduler = cosin }")
    git("add", "specs/typo.ft", cwd=repo)
    git("commit", "-q", "-m", "typo", cwd=repo)
    done = ftspec("diff", "HEAD:specs/typo.ft", "specs/cricket-coach.ft", cwd=repo)
    assert done.returncode == 1 and done.stdout == ""
    assert "HEAD:specs/typo.ft:2:21: FT104 `cosin` is not a valid value" in done.stderr
    assert "ftspec-diff-" not in done.stderr and "Traceback" not in done.stderr
    # A data file the revision does not hold is reported as such, and the settings still compare.
    extra = repo / "data" / "cricket" / "extra.jsonl"
    shutil.copy(repo / "data" / "cricket" / "coaching.jsonl", extra)
    variant(repo, "extra.ft", 'data { train = "../data/cricket/extra.jsonl" }')
    git("add", "specs/extra.ft", cwd=repo)
    git("commit", "-q", "-m", "extra", cwd=repo)
    done = ftspec("diff", "HEAD:specs/extra.ft", "specs/extra.ft", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert "content of data/cricket/extra.jsonl: not in HEAD → sha256 " in done.stdout


def test_json_carries_the_same_changes_as_the_text(project, monkeypatch):
    new = variant(project, "bigger.ft", "train { batch_size = 16 }")
    done = ftspec("diff", "specs/cricket-coach.ft", new, "--json", cwd=project)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert set(found) == {"settings", "consequences", "learns_from"}
    assert found["settings"] == [{"key": "train.batch_size", "old": 4, "new": 16}]
    assert {"key": "effective batch", "old": 4, "new": 16} in found["consequences"]
    monkeypatch.chdir(project)
    assert found == json.loads(json.dumps(compare("specs/cricket-coach.ft", new).diff.as_json()))
    text = ftspec("diff", "specs/cricket-coach.ft", new, cwd=project).stdout
    keys = [line.strip().split(":")[0] for line in text.splitlines() if line.startswith("  ")]
    assert keys == [change["key"] for section in found.values() for change in section]


@needs_git
def test_bad_arguments_are_one_line_errors(repo, tmp_path):
    for args, message in (
        (("no-such.ft", "specs/tiny-base.ft"), "`no-such.ft` does not exist"),
        (("nope:specs/tiny-base.ft", "specs/tiny-base.ft"), "`nope` is not a git revision"),
        (("HEAD:specs/no-such.ft", "specs/tiny-base.ft"), "`specs/no-such.ft` does not exist at revision `HEAD`"),
        (("specs", "specs/tiny-base.ft"), "`specs` is a directory"),
    ):
        done = ftspec("diff", *args, cwd=repo)
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1 and message in done.stderr and "Traceback" not in done.stderr
    outside = tmp_path / "outside"
    outside.mkdir()
    done = ftspec("diff", "HEAD:specs/tiny-base.ft", str(repo / "specs" / "tiny-base.ft"), cwd=outside)
    assert done.returncode == 2 and "not in a git repository" in done.stderr
    with pytest.raises(RevisionError):
        compare(str(outside / "missing.ft"), str(repo / "specs" / "tiny-base.ft"))


def test_a_spec_with_errors_exits_1_with_its_diagnostics(project):
    (project / "specs" / "broken.ft").write_text('name = "broken"\ntrain { epochs = "three" }\n')
    done = ftspec("diff", "specs/tiny-base.ft", "specs/broken.ft", cwd=project)
    assert done.returncode == 1 and done.stdout == ""
    assert "specs/broken.ft:2:18: FT105" in done.stderr and "Traceback" not in done.stderr


def test_trust_remote_code_and_the_gpu_hours_are_called_out(tmp_path):
    (tmp_path / "data.jsonl").write_text((ROOT / "tests" / "plans" / "data.jsonl").read_text())
    base = (ROOT / "tests" / "plans" / "llama-7b-qlora.ft").read_text()
    (tmp_path / "old.ft").write_text(base)
    (tmp_path / "new.ft").write_text(
        base.replace(
            '  model = "meta-llama/Llama-2-7b-hf"', '  model = "meta-llama/Llama-2-7b-hf"\n  trust_remote_code = true'
        ).replace("  epochs     = 3", "  epochs     = 30")
    )
    done = ftspec("diff", "old.ft", "new.ft", "--target", "l4", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "runs the base repository's code (trust_remote_code): no → yes" in done.stdout
    assert "GPU-hours: ~" in done.stdout
