"""Writing output never ends in a traceback or a half-written directory: every OS error is FT309."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from ftspec.cli.main import main
from ftspec.diagnostics import FtspecError
from ftspec.render.write import write_files

SPEC = (
    'name = "demo"\ndata {\n  train = "d.txt"\n  format = text\n}\nstrategy scratch { }\ntokenizer { train = true }\n'
)


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "d.txt").write_text("Some text to learn from.\n")
    (tmp_path / "s.ft").write_text(SPEC)
    (tmp_path / "afile").write_text("not a directory\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        ("afile", "a file of that name is in the way"),
        ("afile/sub", "a file stands where a directory is needed"),
        ("/proc/ftspec-output", "`/proc/ftspec-output`"),
    ],
)
def test_an_output_path_the_os_refuses_is_a_diagnostic(project, capsys, output, reason):
    assert main(["compile", "s.ft", "-o", output]) == 1
    err = capsys.readouterr().err
    assert "FT309 cannot write to" in err and reason in err and "Traceback" not in err
    assert (project / "afile").read_text() == "not a directory\n"


def test_a_full_disk_keeps_the_previous_output_and_leaves_no_staging_directory(project, monkeypatch, capsys):
    assert main(["compile", "s.ft", "-o", "out"]) == 0
    before = {path.name: path.read_text() for path in (project / "out").iterdir()}
    real = Path.write_text

    def full(self, *args, **kwargs):
        if self.name == "plan.json":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full)
    (project / "s.ft").write_text(SPEC.replace('"demo"', '"renamed"'))
    assert main(["compile", "s.ft", "-o", "out"]) == 1
    err = capsys.readouterr().err
    assert "FT309 cannot write to `out`: there is no space left on its device" in err and "Traceback" not in err
    assert {path.name: path.read_text() for path in (project / "out").iterdir()} == before
    assert sorted(path.name for path in project.iterdir() if path.name.startswith(".")) == []


def test_a_new_output_directory_gets_the_usual_modes(tmp_path):
    previous = os.umask(0o022)
    try:
        write_files({"a.txt": "a\n"}, tmp_path / "new")
    finally:
        os.umask(previous)
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o755  # not mkdtemp's 0700


def test_write_files_raises_a_diagnostic_not_an_os_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(FtspecError) as raised:
        write_files({"a.txt": "a\n"}, tmp_path / "file" / "below")
    [found] = raised.value.diagnostics
    assert found.code == "FT309" and "a file stands where a directory is needed" in found.message
