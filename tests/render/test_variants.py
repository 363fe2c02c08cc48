"""Every strategy, format and option renders a script that parses and passes ruff.

No training here: the matrix in test_strategies.py trains them.
"""

from __future__ import annotations

import ast
import itertools
import subprocess
from pathlib import Path

import pytest
from test_golden import ruff

from ftspec import api

FORMATS = {
    "text": 'data { train = "d.jsonl" }\n',
    "text-file": 'data { train = "d.txt"\n packing = false }\n',
    "instruction": 'data { train = "d.jsonl"\n format = instruction\n prompt = "q"\n response = "a"\n'
    ' template = "Q: {q}\\nA: "\n train_on_prompt = true }\n',
    "chat": 'data { train = "d.jsonl"\n format = chat\n chat_template = chatml\n eval = "e.jsonl" }\n',
    "classification": 'data { train = "d.csv"\n format = classification\n label = "y"\n labels = [a, b] }\n',
}
STRATEGIES = {
    "full": 'base { model = "org/m" }\nstrategy full { freeze = [embeddings]\n freeze_layers = 1 }\n',
    "lora": 'base { model = "org/m" }\nstrategy lora { dora = true }\noutput { merge = true }\n',
    "qlora": 'base { model = "org/m" }\nstrategy qlora { bits = 8 }\noutput { merge = true }\n',
    "adalora": 'base { model = "org/m" }\nstrategy adalora { warmup = 5 }\n',
    "ia3": 'base { model = "org/m" }\nstrategy ia3 { }\n',
    "loha": 'base { spec = "base.ft" }\nstrategy loha { }\n',
    "lokr": 'base { model = "./local" }\nstrategy lokr { }\n',
    "scratch": "tokenizer { train = true }\nstrategy scratch { architecture = gpt2\n hidden_size = 64 }\n",
}
OPTIONS = [
    "",
    "train { max_steps = 10\n warmup = 2\n optimizer = sgd\n precision = bf16 }\neval { every = 5 }\n",
    "train { optimizer = adafactor\n precision = fp16 }\neval { per_epoch = 2 }\nhardware { gpu = t4 }\n",
]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("variants")
    (root / "local").mkdir()
    for name in ("d.jsonl", "e.jsonl", "d.txt", "d.csv"):
        (root / name).write_text("x\n")
    (root / "base.ft").write_text(
        'name = "base"\ndata { train = "d.txt" }\ntokenizer { train = true }\nstrategy scratch { }\n'
    )
    out = root / "out"
    for (fmt, data), (kind, strategy), (index, options) in itertools.product(
        FORMATS.items(), STRATEGIES.items(), enumerate(OPTIONS)
    ):
        name = f"{kind}-{fmt}-{index}"
        spec = root / f"{name}.ft"
        spec.write_text(f'name = "{name}"\n{data}{strategy}{options}')
        target = "t4" if "gpu = t4" in options else ("h100" if "bf16" in options else None)
        result = api.compile_spec(spec, out / name, target=target)
        assert result.ok, (name, [(d.code, d.message) for d in result.diagnostics])
        api.write(result.files, result.out_dir)
    return out


def test_every_variant_parses(rendered):
    scripts = sorted(rendered.glob("*/train.py"))
    assert len(scripts) == len(FORMATS) * len(STRATEGIES) * len(OPTIONS)
    for script in scripts:
        ast.parse(script.read_text(), str(script))


@pytest.mark.skipif(ruff() is None, reason="ruff is a dev dependency")
def test_every_variant_passes_ruff(rendered):
    files = [str(p) for p in rendered.glob("*/*.py")]
    check = subprocess.run(
        [*ruff(), "check", "--isolated", "--extend-select", "I,W", *files], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout[-5000:]
    fmt = subprocess.run([*ruff(), "format", "--isolated", "--diff", *files], capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout[-5000:] + fmt.stderr[-2000:]
