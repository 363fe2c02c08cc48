"""The README's spec reference is generated from the validation models and kept current."""

from __future__ import annotations

from conftest import ROOT

from ftspec.spec import schema
from ftspec.spec.reference import BEGIN, END, reference


def test_readme_reference_is_current(update_golden):
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    if update_golden:
        text = text[:start] + reference() + text[end:]
        readme.write_text(text, encoding="utf-8")
    assert text[start:end] == reference(), "README reference is stale: run pytest --update-golden"


def test_reference_lists_every_block_strategy_and_setting():
    text = reference()
    for kind, model in schema.STRATEGIES.items():
        assert f"### `strategy {kind}`" in text
        for name in model.model_fields:
            if name != "kind":
                assert f"| `{name}` |" in text
    for kind, model in schema.OBJECTIVES.items():
        assert f"### `objective {kind}`" in text
        for name in model.model_fields:
            if name != "kind":
                assert f"| `{name}` |" in text
    for name in schema.BLOCKS:
        if name not in schema.LABELLED:
            assert f"### `{name}`" in text
