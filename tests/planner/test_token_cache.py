"""Token counts kept on disk under the hash of what they were made from (planner/token_cache.py)."""

from __future__ import annotations

import json

import pytest
from test_tokens import ROWS, local_base, project

from ftspec import api
from ftspec.planner import token_cache, tokens


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    return folder / "ftspec" / token_cache.FILE


@pytest.fixture
def spec(tmp_path):
    local_base(tmp_path / "base")
    return project(tmp_path, 'model = "base"')


def counting(monkeypatch) -> list[int]:
    """Records each time the rows are counted for real."""
    made: list[int] = []
    real = tokens._count
    monkeypatch.setattr(tokens, "_count", lambda plan, path: made.append(1) or real(plan, path))
    return made


def test_a_second_plan_of_the_same_inputs_does_not_count_again(cache, spec, monkeypatch):
    made = counting(monkeypatch)
    first = api.check(spec).plan.estimates
    assert made == [1] and cache.is_file()
    again = api.check(spec).plan.estimates
    assert made == [1] and again == first and first.token_count == "counted with the base's tokenizer.json"


def test_changed_data_or_settings_are_counted_again(cache, spec, monkeypatch):
    made = counting(monkeypatch)
    first = api.check(spec).plan.estimates.tokens_per_epoch
    data = spec.parent / "train.jsonl"
    data.write_text(data.read_text() + json.dumps(ROWS[6]) + "\n")  # one more row: another hash, another count
    grown = api.check(spec).plan.estimates.tokens_per_epoch
    assert made == [1, 1] and grown > first
    cut = api.check(spec, overrides=("data.max_length=8",)).plan.estimates.tokens_per_epoch
    assert made == [1, 1, 1] and cut < grown


def test_a_changed_tokenizer_is_counted_again(cache, spec, monkeypatch):
    made = counting(monkeypatch)
    api.check(spec)
    tokenizer = spec.parent / "base" / "tokenizer.json"
    tokenizer.write_text(json.dumps(json.loads(tokenizer.read_text())))  # same tokenizer, other bytes
    api.check(spec)
    assert made == [1, 1]


def test_a_damaged_or_unwritable_cache_costs_time_not_the_figure(cache, spec, tmp_path, monkeypatch):
    expected = api.check(spec).plan.estimates
    cache.write_text("{not json")
    assert api.check(spec).plan.estimates == expected
    assert json.loads(cache.read_text())["format"] == token_cache.FORMAT  # written anew
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "a-file"))
    (tmp_path / "a-file").write_text("")  # the cache folder cannot be made
    made = counting(monkeypatch)
    assert api.check(spec).plan.estimates == expected and made == [1]


def test_an_unloadable_tokenizer_is_remembered_as_such(cache, spec, monkeypatch):
    (spec.parent / "base" / "tokenizer.json").write_text('{"model": "not a tokenizer"}')
    made = counting(monkeypatch)
    first = api.check(spec).plan.estimates
    assert first.token_count.startswith("estimated at 4 characters a token")
    assert api.check(spec).plan.estimates == first and made == [1]
