"""A run directory is new, empty or ftspec's own, never `/` or home, and one run at a time holds it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ftspec.diagnostics import FtspecError
from ftspec.run.launch import complete_checkpoints
from ftspec.run.rundir import LOCK, MARKER, RunLock, claim, owner


def codes(found) -> list[str]:
    return [d.code for d in found]


def test_a_directory_of_someone_elses_files_is_refused_and_left_as_it_was(tmp_path):
    precious = tmp_path / "precious"
    (precious / "checkpoints").mkdir(parents=True)
    (precious / "model").mkdir()
    (precious / "checkpoints" / "important.bin").write_bytes(b"\x01" * 64)
    (precious / "model" / "keep.bin").write_bytes(b"\x02" * 64)
    (precious / "README.md").write_text("mine\n")
    found = claim(precious, "demo", None)
    assert codes(found) == ["FT307"] and "`README.md`, `checkpoints`, `model`" in found.items[0].message
    assert sorted(p.relative_to(precious).as_posix() for p in precious.rglob("*")) == [
        "README.md",
        "checkpoints",
        "checkpoints/important.bin",
        "model",
        "model/keep.bin",
    ]


@pytest.mark.parametrize("where", ["/", "home", "above home"])
def test_root_and_home_are_never_run_directories(where, tmp_path, monkeypatch):
    home = tmp_path / "users" / "someone"
    home.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    directory = {"/": Path("/"), "home": home, "above home": home.parent}[where]
    assert codes(claim(directory, "demo", None)) == ["FT308"]
    assert not (directory / MARKER).exists()


def test_a_new_or_empty_directory_is_claimed_with_a_marker(tmp_path):
    (tmp_path / "empty").mkdir()
    for directory in (tmp_path / "new" / "run", tmp_path / "empty"):
        assert codes(claim(directory, "demo", None)) == []
        assert owner(directory) == "demo" and json.loads((directory / MARKER).read_text()) == {"spec": "demo"}
    # Marked as ours: files ftspec wrote there do not make it foreign.
    (tmp_path / "empty" / "train.py").write_text("")
    assert codes(claim(tmp_path / "empty", "demo", None)) == []


def test_the_run_of_another_spec_is_named_and_kept_unless_forced(tmp_path):
    assert codes(claim(tmp_path, "first", None)) == []
    (tmp_path / "train.py").write_text("")
    found = claim(tmp_path, "second", None)
    assert codes(found) == ["FT307"] and "holds the run of spec `first`, not `second`" in found.items[0].message
    assert codes(claim(tmp_path, "second", None, force=True)) == [] and owner(tmp_path) == "second"


def test_a_run_directory_from_before_markers_is_recognised_by_its_run_json(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"name": "old", "content_hash": "abc"}))
    assert owner(tmp_path) == "old" and codes(claim(tmp_path, "old", None)) == []
    (tmp_path / "run.json").write_text("{}")  # not a run record: no name to show, and not ours
    (tmp_path / MARKER).unlink()
    assert owner(tmp_path) is None and codes(claim(tmp_path, "old", None)) == ["FT307"]


def test_a_second_run_is_told_who_holds_the_directory(tmp_path):
    with RunLock(tmp_path, None):
        with pytest.raises(FtspecError) as raised, RunLock(tmp_path, None):
            pass
        [held] = raised.value.diagnostics
        assert held.code == "FT310" and f"pid {os.getpid()} on " in held.message
    with RunLock(tmp_path, None):  # released when the first run ends
        assert (tmp_path / LOCK).read_text().startswith(f"pid {os.getpid()} ")


def test_only_complete_checkpoints_count_for_resuming(tmp_path):
    checkpoints = tmp_path / "checkpoints"
    for name, complete in (("step-00000005", True), ("step-00000010", False), ("step-00000015.tmp", True)):
        (checkpoints / name).mkdir(parents=True)
        if complete:
            (checkpoints / name / "progress.json").write_text("{}")
    assert [path.name for path in complete_checkpoints(tmp_path)] == ["step-00000005"]
