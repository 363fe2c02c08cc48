"""The command line as a user meets it: exit codes, messages, and never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT, SHIPPED_ADVICE, ftspec_command

from ftspec import api
from ftspec.diagnostics import Diagnostics
from ftspec.run import launch

DIAGNOSTICS = ROOT / "tests" / "diagnostics"


def ftspec(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(ftspec_command(*args), cwd=cwd, capture_output=True, text=True, timeout=60)


def test_shipped_specs_check_with_exit_0():
    done = ftspec("check", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "specs").glob("*.ft")))
    assert done.returncode == 0, done.stderr
    # Warnings exit 0; a spec with one prints it instead of "ok".
    assert done.stdout.count(": ok") == len(list((ROOT / "specs").glob("*.ft"))) - len(SHIPPED_ADVICE)
    assert all(f"{code} warning" in done.stderr for codes in SHIPPED_ADVICE.values() for code in codes)


def test_a_cold_check_imports_only_what_it_uses():
    # The start-up's economies (README, "The compiler never imports torch"): nothing that renders, no training
    # stack, no `tokenizers` while its count is kept, Lark without `regex`, no catalog TOML for a base spec.
    code = (
        "import sys\nfrom ftspec.cli.main import main\n"
        "status = main(['check', 'specs/cricket-coach.ft'])\n"
        "heavy = ('jinja2', 'torch', 'transformers', 'peft', 'regex', 'tomllib', 'ftspec.render.files')\n"
        "print(sorted(m for m in heavy if m in sys.modules), sys.modules['lark.utils']._has_regex)\n"
        "sys.exit(status)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[] False"


def test_the_scripts_ftspec_starts_do_not_inherit_its_start_up_settings():
    # The CLI turns pydantic's plugin search off for itself; train.py, eval.py and chat.py get the user's setting.
    code = (
        "import os\nfrom ftspec import api\nfrom ftspec.run import launch\n"
        "plan = api.check('specs/cricket-coach.ft').plan\n"
        "print(os.environ.get('PYDANTIC_DISABLE_PLUGINS'), launch.environment(plan).get('PYDANTIC_DISABLE_PLUGINS'))\n"
    )
    env = {name: value for name, value in os.environ.items() if name != "PYDANTIC_DISABLE_PLUGINS"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.split() == ["__all__", "None"], done.stderr
    env["PYDANTIC_DISABLE_PLUGINS"] = "logfire"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.split() == ["logfire", "logfire"], done.stderr


def test_a_missing_spec_is_a_diagnostic_not_a_traceback(tmp_path):
    done = ftspec("check", "no-such.ft", cwd=tmp_path)
    assert done.returncode == 1
    assert "FT301 spec file `no-such.ft` does not exist" in done.stderr
    assert "Traceback" not in done.stderr
    done = ftspec("check", ".", cwd=tmp_path)
    assert done.returncode == 1 and "is a directory" in done.stderr and "Traceback" not in done.stderr


def test_usage_errors_exit_2():
    assert ftspec("chekc", "specs/tiny-base.ft").returncode == 2
    assert ftspec("plan", "specs/tiny-base.ft", "--target", "h1000").returncode == 2
    assert ftspec("check").returncode == 2


def test_warnings_exit_0_unless_strict():
    done = ftspec("check", "FT501-unusual-learning-rate.ft", cwd=DIAGNOSTICS)
    assert done.returncode == 0 and "FT501 warning:" in done.stderr
    assert ftspec("check", "--strict", "FT501-unusual-learning-rate.ft", cwd=DIAGNOSTICS).returncode == 1


def test_errors_in_several_files_all_reported():
    done = ftspec("check", "FT101-unknown-block.ft", "FT102-unknown-setting.ft", cwd=DIAGNOSTICS)
    assert done.returncode == 1 and "FT101" in done.stderr and "FT102" in done.stderr


def test_plan_json_has_the_resolved_values():
    done = ftspec("plan", "specs/cricket-coach.ft", "--json", "--target", "h100")
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["hardware"]["precision"] == "bf16"
    assert plan["train"]["effective_batch_size"] == 4
    assert plan["base"]["path"] == "../tiny-base/model"  # relative to the run directory, runs/cricket-coach
    assert "cost" not in plan and "distributed" not in plan  # the plan's own sections only, each fact once


def test_plan_json_is_the_run_directorys_plan_json_byte_for_byte():
    """What `ftspec plan --json` prints is what `ftspec run` writes to runs/<name>/plan.json."""
    done = ftspec("plan", "specs/cricket-coach.ft", "--json", "--target", "h100")
    assert done.returncode == 0, done.stderr
    plan = api.check(ROOT / "specs" / "cricket-coach.ft", target="h100").plan
    written = api.compile_spec(ROOT / "specs" / "cricket-coach.ft", plan.output.dir, target="h100").files["plan.json"]
    assert done.stdout == written
    priced = ftspec("plan", "specs/cricket-coach.ft", "--json", "--target", "h100", "--price", "2")
    document = json.loads(priced.stdout)
    assert document.pop("cost")["price_per_gpu_hour"] == 2.0 and document == json.loads(written)


def test_plan_table():
    done = ftspec("plan", "specs/tiny-base.ft", "--target", "cpu")
    assert done.returncode == 0, done.stderr
    assert "scratch (llama: hidden 128, 4 layers, 4 heads, context 256)" in done.stdout
    assert "precision fp32" in done.stdout


def test_compile_writes_into_the_output_directory(tmp_path):
    done = ftspec("compile", "specs/cricket-coach.ft", "-o", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "README.md",
        "accelerate_config.yaml",
        "chat.py",
        "eval.py",
        "launch.sh",
        "plan.json",
        "serve.sh",
        "train.py",
    ]
    assert (tmp_path / "out" / "launch.sh").stat().st_mode & 0o111
    assert (tmp_path / "out" / "serve.sh").stat().st_mode & 0o111


def test_a_failed_compile_writes_nothing(tmp_path):
    out = tmp_path / "out"
    done = ftspec("compile", "FT102-unknown-setting.ft", "-o", str(out), cwd=DIAGNOSTICS)
    assert done.returncode == 1 and not out.exists()


def test_offline_a_hub_base_is_looked_for_in_the_cache_before_launching(tmp_path, monkeypatch):
    from ftspec import api
    from ftspec.run.launch import offline_misses

    (tmp_path / "t.txt").write_text("some text\n")
    (tmp_path / "s.ft").write_text(
        'name = "s"\nbase { model = "org/model" }\ndata { train = "t.txt" }\nstrategy lora { }\n'
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    plan = api.check(Path("s.ft")).plan
    [miss], _ = offline_misses(plan)
    assert (miss.code, miss.span.line, miss.span.column) == ("FT305", 2, 16)
    # The snapshot `refs/main` names, as huggingface_hub lays out its cache.
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hf" / "hub" / "models--org--model"
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "snapshots" / commit / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    assert offline_misses(plan) == (Diagnostics(), False)
    # Online, a hub that answers serves what the cache lacks: nothing to look for.
    (repo / "refs" / "main").unlink()
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(launch, "hub_reachable", lambda: True)
    assert offline_misses(plan) == (Diagnostics(), False)


def test_without_offline_mode_an_unreachable_hub_is_decided_quickly(tmp_path, monkeypatch):
    """Offline mode unset and no hub answering: FT305 at once for what the cache lacks (not a minute of retries
    and three tracebacks), and a run offline when the cache has everything."""
    from ftspec import api

    (tmp_path / "t.txt").write_text("some text\n")
    (tmp_path / "s.ft").write_text(
        'name = "s"\nbase { model = "org/model" }\ndata { train = "t.txt" }\nstrategy lora { }\n'
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing listens there
    plan = api.check(Path("s.ft")).plan
    started = time.perf_counter()
    [miss], offline = launch.offline_misses(plan)
    assert time.perf_counter() - started < launch.HUB_PROBE_SECONDS + 1
    assert miss.code == "FT305" and "the hub cannot be reached" in miss.message
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hf" / "hub" / "models--org--model"
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "snapshots" / commit / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    assert launch.offline_misses(plan) == (Diagnostics(), True)
    assert launch.environment(plan, offline=True)["HF_HUB_OFFLINE"] == "1"
