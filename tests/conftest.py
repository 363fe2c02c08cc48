"""Shared test set-up: offline Hugging Face, a private cache, and `--update-golden`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", help="rewrite generated/ and expected outputs")


@pytest.fixture(scope="session")
def update_golden(request) -> bool:
    return request.config.getoption("--update-golden")


@pytest.fixture(scope="session", autouse=True)
def offline_hub(tmp_path_factory):
    """Nothing may reach the network; every cache lives in a temporary directory."""
    home = tmp_path_factory.mktemp("hf-home")
    values = {
        "HF_HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


# Advice that is true for a shipped spec, so the tests expect it: tiny-base (DESIGN.md's example A)
# trains 0.72M parameters from scratch on ~0.22M tokens, far below a compute-optimal budget; cricket-coach-sharegpt
# holds no rows out (`eval_split = 0%`) on purpose.
SHIPPED_ADVICE = {"tiny-base": {"FT503"}, "cricket-coach-sharegpt": {"FT511"}}


def ftspec_command(*args: str) -> list[str]:
    """The ftspec CLI, run by the interpreter running the tests."""
    return [sys.executable, "-m", "ftspec", *args]


def train_worker(root_pid: int, seconds: float = 120):
    """The train.py process under ``root_pid`` (ftspec, launch.sh or a launcher): the one with a train.py
    command line and no train.py process of its own below it, as `accelerate launch train.py` has."""
    import time

    import psutil

    deadline = time.time() + seconds
    while time.time() < deadline:
        below = psutil.Process(root_pid).children(recursive=True)
        scripts = [p for p in below if "train.py" in " ".join(p.cmdline())]
        workers = [p for p in scripts if not any(c in scripts for c in p.children())]
        if workers:
            return workers[0]
        time.sleep(0.1)
    raise AssertionError("no train.py worker found")
