"""`ftspec suggest`: catalog bases for a domain and task, the cheapest strategy that fits, and its usage errors.

Exit codes: 0 with a table; 2 for usage errors, an unknown domain (with a did-you-mean) and a malformed size among
them, like every other usage error of the command line.
"""

from __future__ import annotations

import re

import pytest

from ftspec.cli.main import main
from ftspec.suggest.candidates import SuggestError, parse_size, suggest


def run(capsys, *args: str) -> tuple[int, str, str]:
    status = main(["suggest", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def rows(text: str) -> dict[str, list[str]]:
    """Table rows by model id, cells split on runs of two spaces (an id on its own line joins the next line)."""
    found, pending = {}, None
    for line in text.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if pending is not None:
            found[pending], pending = cells, None
        elif re.fullmatch(r"[\w.-]+/[\w.-]+", line):
            pending = line
        elif re.fullmatch(r"[\w.-]+/[\w.-]+", cells[0]) and len(cells) > 3:
            found[cells[0]] = cells[1:]
    return found


def order(text: str) -> list[str]:
    return list(rows(text))


def test_healthcare_classification_on_one_24gib_gpu(capsys):
    status, out, err = run(
        capsys, "--domain", "healthcare", "--task", "classification", "--gpus", "1", "--gpu-memory", "24GiB"
    )
    assert status == 0 and err == ""
    assert max(len(line) for line in out.splitlines()) <= 100
    assert out.startswith("healthcare: medical, clinical and biomedical specialists first; task classification")
    assert "21.6 GiB usable per GPU" in out and "micro-batch 4 x 512 tokens" in out
    header = next(line for line in out.splitlines() if line.startswith("model"))
    assert re.split(r"\s{2,}", header) == ["model", "size", "context", "fits as", "GiB", "licence"]
    titles = [line for line in out.splitlines() if line.startswith("-- ")]
    assert titles == [
        "-- medical, clinical and biomedical encoders",
        "-- medical, clinical and biomedical decoders",
        "-- general-purpose encoders",
        "-- general-purpose decoders",
    ]
    table = rows(out)
    ids = list(table)
    # Domain specialists first, encoders before decoders within each group.
    specialists = [
        "emilyalsentzer/Bio_ClinicalBERT",
        "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract-fulltext",
        "stanford-crfm/BioMedLM",
        "epfl-llm/meditron-7b",
        "BioMistral/BioMistral-7B",
    ]
    assert ids[:5] == specialists
    assert ids.index("FacebookAI/xlm-roberta-base") < ids.index("openai-community/gpt2")
    assert table["emilyalsentzer/Bio_ClinicalBERT"][:3] == ["108M", "512", "full"]
    assert table["emilyalsentzer/Bio_ClinicalBERT"][-1] == "mit"
    assert table["epfl-llm/meditron-7b"][:3] == ["6.7B", "2048", "lora"]
    assert table["meta-llama/Llama-2-13b-hf"][2] == "qlora"
    assert all(float(cells[3]) <= 21.6 for cells in table.values())
    # Too large even for QLoRA, and the specialists of other domains, are named or counted, not listed.
    assert "too large for 1 GPU with 24 GiB even with QLoRA: meta-llama/Llama-2-70b-hf" in out
    assert "meta-llama/Llama-2-70b-hf" not in table and "bigcode/starcoder2-3b" not in table
    assert "not listed: 10 specialists of other domains" in out


def test_code_instruction_without_hardware_lists_each_strategys_peak(capsys):
    status, out, _ = run(capsys, "--domain", "code", "--task", "instruction")
    assert status == 0
    assert max(len(line) for line in out.splitlines()) <= 100
    assert out.startswith("code: code specialists first; task instruction: decoders")
    assert "no hardware given: peak GiB per GPU for each strategy" in out
    assert [line for line in out.splitlines() if line.startswith("-- ")] == [
        "-- code decoders",
        "-- general-purpose decoders",
    ]
    header = next(line for line in out.splitlines() if line.startswith("model"))
    assert re.split(r"\s{2,}", header) == ["model", "size", "context", "full", "lora", "qlora", "licence"]
    table = rows(out)
    ids = list(table)
    code = [
        "microsoft/phi-2",
        "bigcode/starcoder2-3b",
        "codellama/CodeLlama-7b-hf",
        "bigcode/starcoder2-7b",
        "Qwen/Qwen2.5-Coder-7B",
        "bigcode/starcoder2-15b",
    ]
    assert ids[: len(code)] == code
    assert "openai-community/gpt2" in ids[len(code) :] and "meta-llama/Llama-2-70b-hf" in ids
    assert not any("bert" in model.lower() for model in ids)  # encoders cannot generate
    starcoder = table["bigcode/starcoder2-3b"]
    assert starcoder[:2] == ["3.0B", "16384"] and starcoder[-1] == "bigcode-openrail-m"
    full, lora, qlora = (float(cell) for cell in starcoder[2:5])
    assert full > lora > qlora > 0
    assert "6 encoders (they cannot generate text)" in out


def test_unknown_domain_is_a_usage_error_with_a_did_you_mean(capsys):
    status, out, err = run(capsys, "--domain", "helthcare")
    assert status == 2 and out == ""
    assert "ftspec suggest: unknown domain `helthcare`: did you mean `healthcare`?" in err
    status, _, err = run(capsys, "--domain", "knitting")
    assert status == 2 and "use `--domain general` for any other subject" in err


@pytest.mark.parametrize("size", ["24", "24XB", "-1GiB", "0GiB", "lots", "24 GiB"])
def test_a_bad_size_is_a_clean_usage_error(capsys, size):
    status, out, err = run(capsys, "--domain", "legal", f"--gpu-memory={size}")
    assert status == 2 and out == "" and "Traceback" not in err
    assert f"--gpu-memory: `{size}` is not a size" in err


def test_sizes_are_read_as_in_specs():
    assert parse_size("24GiB") == 24 * 2**30 and parse_size("80GB") == 80 * 10**9
    with pytest.raises(SuggestError):
        parse_size("80")


def test_gpus_without_memory_and_target_with_memory_are_usage_errors(capsys):
    assert run(capsys, "--domain", "legal", "--gpus", "2")[0] == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["suggest", "--domain", "legal", "--target", "l4", "--gpu-memory", "24GiB"])
    assert exit_info.value.code == 2


def test_sub_domains_map_to_their_subject_and_general_domains_list_general_models():
    text = suggest("sports/cricket", "instruction", target="l4")
    assert text.startswith("sports/cricket: general-purpose models")
    assert [line for line in text.splitlines() if line.startswith("-- ")] == ["-- general-purpose decoders"]
    assert "openai-community/gpt2" in rows(text)


def test_non_commercial_licences_are_marked():
    table = rows(suggest("finance", "classification", gpu_memory="16GiB"))
    assert table["ProsusAI/finbert"][-1] == "unknown (non-commercial)"
    assert list(table)[0] == "ProsusAI/finbert"


def test_several_gpus_shard_what_one_cannot_hold():
    table = rows(suggest("general", "text", target="h100", gpus=8))
    assert table["meta-llama/Llama-2-7b-hf"][2] == "full, fsdp"  # ~126 GiB unsharded
    assert table["meta-llama/Llama-2-70b-hf"][2] == "lora, fsdp"
    assert table["openai-community/gpt2"][2] == "full"
