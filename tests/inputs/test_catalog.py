"""The base-model catalog: its data is complete and consistent, and its size formula holds."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

import ftspec.inputs.catalog as catalog
from ftspec.inputs.catalog import Architecture, CatalogEntry, estimate_params, find, load_catalog

ENTRIES = load_catalog()
DOMAINS = ("general", "medical", "biomedical", "clinical", "legal", "finance", "code", "multilingual", "science")
# A decoder's size must come out within 3% of the stated count, an encoder's within 5%.
TOLERANCE = {"decoder": 0.03, "encoder": 0.05}


def raw_tables() -> list[dict]:
    path = Path(catalog.__file__).with_name("models.toml")
    return tomllib.loads(path.read_text(encoding="utf-8"))["model"]


def test_catalog_loads_and_validates():
    assert len(ENTRIES) >= 30
    assert all(isinstance(entry, CatalogEntry) for entry in ENTRIES)
    assert load_catalog() is ENTRIES  # parsed once, then cached


def test_every_entry_writes_every_field():
    fields = set(CatalogEntry.model_fields)
    arch_fields = set(Architecture.model_fields)
    for table in raw_tables():
        assert set(table) == fields, table.get("id")
        assert set(table["architecture"]) == arch_fields, table["id"]
        assert table["source"].startswith("https://"), table["id"]


def test_ids_are_unique_ignoring_case():
    counts = Counter(entry.id.lower() for entry in ENTRIES)
    assert [model for model, n in counts.items() if n > 1] == []


def test_sizes_span_small_to_very_large():
    sizes = [entry.params for entry in ENTRIES]
    assert min(sizes) < 200_000_000
    assert max(sizes) > 60_000_000_000


def test_both_kinds_are_listed():
    kinds = Counter(entry.kind for entry in ENTRIES)
    assert kinds["encoder"] >= 5 and kinds["decoder"] >= 5


def test_every_domain_is_covered():
    counts = Counter(domain for entry in ENTRIES for domain in entry.domains)
    assert {domain: counts[domain] for domain in DOMAINS if counts[domain] == 0} == {}
    for domain in ("medical", "clinical", "biomedical"):
        assert counts[domain] >= 2, domain
    assert counts["code"] >= 3


def test_licence_fields_agree():
    for entry in ENTRIES:
        if "-nc" in entry.license:  # Creative Commons NonCommercial
            assert not entry.commercial_use, entry.id
        if entry.license == "llama2":
            assert entry.commercial_use and "700 million" in entry.license_note, entry.id
        assert entry.instruct_variant != entry.id


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: entry.id)
def test_estimate_params_matches_stated_size(entry):
    estimate = estimate_params(entry.architecture, entry.kind)
    assert abs(estimate - entry.params) / entry.params <= TOLERANCE[entry.kind]


def test_estimate_params_rejects_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        estimate_params(ENTRIES[0].architecture, "seq2seq")


def test_find_ignores_case_and_misses_cleanly():
    assert find("META-LLAMA/Llama-2-7b-HF").id == "meta-llama/Llama-2-7b-hf"
    assert find("  google-bert/bert-base-uncased ").kind == "encoder"
    assert find("no-such-org/no-such-model") is None


def test_every_id_is_written_as_find_looks_for_it():
    # find() answers "absent" for an id the file does not hold as `id = "owner/name"`, without parsing the TOML.
    text = Path(catalog.__file__).with_name("models.toml").read_text(encoding="utf-8")
    for entry in ENTRIES:
        assert f'\nid = "{entry.id}"\n' in text, entry.id
        assert find(entry.id) == entry


def test_entries_reject_unknown_fields_and_bad_values():
    table = raw_tables()[0]
    with pytest.raises(ValidationError):
        CatalogEntry.model_validate({**table, "homepage": "https://example.com"})
    with pytest.raises(ValidationError):
        CatalogEntry.model_validate({**table, "domains": ["astrology"]})
    with pytest.raises(ValidationError):
        Architecture.model_validate({**table["architecture"], "num_key_value_heads": 5})


def test_import_stays_light():
    code = (
        "import sys, ftspec.inputs.catalog as c\n"
        "c.load_catalog(); c.find('openai-community/gpt2')\n"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
