"""Every preference objective, on every layout of its rows and with the strategies that change the script (a
frozen reference copy, an adapter switched off, AdaLoRA's extra step argument), renders scripts that parse, pass
ruff and keep every function within 80 lines.

No training here: tests/run/test_preference.py trains them.
"""

from __future__ import annotations

import ast
import itertools
import subprocess
from pathlib import Path

import pytest
from test_golden import ruff

from ftspec import api

OBJECTIVES = {
    "dpo": "objective dpo { }",
    "ipo": "objective dpo { loss = ipo }",
    "hinge": "objective dpo { loss = hinge }",
    "orpo": "objective orpo { }",
    "simpo": "objective simpo { }",
    "kto": "objective kto { }",
    "dpo-copy": "objective dpo { reference = copy }",
}
LAYOUTS = {
    "pairs": 'prompt = "q"\n chosen = "c"\n rejected = "r"',
    "conversations": 'chosen = "c"\n rejected = "r"\n chat_template = chatml',
    "unpaired": 'prompt = "q"\n completion = "a"\n label = "y"',
}
STRATEGIES = {"full": "strategy full { }", "lora": "strategy lora { }", "adalora": "strategy adalora { }"}
# Options that lengthen train.py's main(): a step limit and held-out evaluations (and a chunked loss).
OPTIONS = ["", "train { max_steps = 10\n loss_chunk = 64\n gradient_checkpointing = true }\neval { every = 5 }\n"]


def cases():
    for (objective, block), (layout, columns), (kind, strategy), (index, options) in itertools.product(
        OBJECTIVES.items(), LAYOUTS.items(), STRATEGIES.items(), enumerate(OPTIONS)
    ):
        if (objective == "kto") != (layout == "unpaired") or (objective == "dpo-copy" and kind == "full"):
            continue
        data = f'base {{ model = "org/m" }}\ndata {{ train = "d.jsonl"\n format = preference\n {columns} }}\n'
        yield f"{objective}-{layout[0]}{kind[0]}{index}", f"{data}{strategy}\n{block}\n{options}"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("preference-variants")
    (root / "d.jsonl").write_text("x\n")
    for name, text in cases():
        spec = root / f"{name}.ft"
        spec.write_text(f'name = "{name}"\n{text}')
        result = api.compile_spec(spec, root / "out" / name, target="h100")
        assert result.ok, (name, [(d.code, d.message) for d in result.diagnostics])
        api.write(result.files, result.out_dir)
    return root / "out"


def test_every_function_stays_within_80_lines(rendered):
    scripts = sorted(rendered.glob("*/*.py"))
    assert len(scripts) == 3 * len(list(cases()))
    long = []
    for script in scripts:
        for node in ast.walk(ast.parse(script.read_text(), str(script))):
            if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno + 1 > 80:
                long.append(f"{script.parent.name}/{script.name}: {node.name}")
    assert not long, long


@pytest.mark.skipif(ruff() is None, reason="ruff is a dev dependency")
def test_every_variant_passes_ruff(rendered):
    files = [str(p) for p in rendered.glob("*/*.py")]
    check = subprocess.run(
        [*ruff(), "check", "--isolated", "--extend-select", "I,W", *files], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout[-5000:]
    fmt = subprocess.run([*ruff(), "format", "--isolated", "--diff", *files], capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout[-5000:] + fmt.stderr[-2000:]
