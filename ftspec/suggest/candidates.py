"""`ftspec suggest`: the catalog's base models that suit a domain and a task, and what it takes to fit them.

Each candidate is listed, under a title for its group and kind, with its size, context length, licence (marked where
commercial use is not allowed) and the cheapest strategy that fits one GPU: full fine-tuning, then LoRA, then QLoRA,
each unsharded and then, on several GPUs, sharded with FSDP. Memory is ftspec.planner.memory's estimate of the peak
for a stated workload (micro-batch 1 to 4 of 512-token sequences, gradient checkpointing on, bf16 autocast, AdamW; LoRA
and QLoRA at rank 16 on every linear layer, as the planner's own suggestions use) against the GPU's memory less the
planner's margin.

Specialists of the domain come first, then general-purpose models; specialists of other domains are left out. For
classification encoders come before decoders; the generative tasks (instruction, chat, text) list decoders only.
Without hardware, every candidate is listed with its peak under each strategy.

Usage errors (an unknown domain, with a did-you-mean; a malformed size; `--gpus` without a memory) raise
SuggestError, which the command line reports with exit code 2.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..figures import plural
from ..inputs.catalog import CatalogEntry, load_catalog
from ..inputs.domains import catalog_domains, closest_word, describe, general_purpose
from ..inputs.hardware import GIB
from ..inputs.modelinfo import ModelDims
from ..planner.memory import MemorySettings, estimate, usable
from .table import render

__all__ = ["TASKS", "Candidate", "Fit", "Hardware", "SuggestError", "candidates", "hardware", "parse_size", "suggest"]

TASKS = ("classification", "instruction", "chat", "text")
GENERATIVE = frozenset({"instruction", "chat", "text"})
STRATEGIES = ("full", "lora", "qlora")
SEQ_LEN = 512
LORA_RANK = 16
MICRO_BATCHES = (1, 2, 3, 4)


class SuggestError(ValueError):
    """A usage error: the message says what was wrong and what would be right."""


@dataclass(frozen=True)
class Hardware:
    """The GPUs to fit: how many, and the memory of one (None when unknown)."""

    name: str
    gpus: int
    memory: int | None

    @property
    def usable(self) -> float | None:
        return usable(self.memory)


@dataclass(frozen=True)
class Fit:
    """The cheapest way found to fit a model: the strategy, its peak per GPU, and whether it shards."""

    strategy: str
    peak: int
    sharded: bool


@dataclass(frozen=True)
class Candidate:
    """A catalog model for the request, with its unsharded peak per strategy and its fit on the hardware."""

    entry: CatalogEntry
    specialist: bool
    peaks: dict[str, int]
    fit: Fit | None


def parse_size(text: str, option: str = "--gpu-memory") -> int:
    """Bytes of a size written as in a spec (`24GiB`, `80GB`); SuggestError otherwise."""
    from ..spec.lower import lower_value  # the spec's own literal syntax; lark is loaded only here
    from ..spec.parser import parse

    tree, problems = parse(text.strip(), option, start="value_only")
    value = lower_value(tree, option)[0] if tree is not None else None
    if value is None or value.kind != "size" or value.value <= 0:
        raise SuggestError(
            f"{option}: `{text}` is not a size; write a positive number with a unit, such as `24GiB` or `80GB` "
            "(KiB, MiB, GiB, TiB, KB, MB, GB, TB)"
        )
    return value.value


def hardware(target: str | None = None, gpus: int | None = None, gpu_memory: str | None = None) -> Hardware | None:
    """The hardware of `--target` or `--gpus`/`--gpu-memory`; None when neither is given."""
    if gpus is not None and gpus < 1:
        raise SuggestError("--gpus: give at least 1")
    if gpu_memory is not None:
        memory = parse_size(gpu_memory)
        count = gpus or 1
        return Hardware(f"{plural(count, 'GPU')} with {round(memory / GIB, 1):g} GiB", count, memory)
    if target is None:
        if gpus is not None:
            raise SuggestError("--gpus needs --gpu-memory SIZE (or --target NAME) to know what fits")
        return None
    from ..inputs.hardware import PROFILES, detect

    profile = detect() if target == "detect" else PROFILES[target]
    memory = profile.device_memory if profile.accelerator == "cuda" else None
    count = gpus or profile.devices_per_node
    return Hardware(f"{count} x {profile.name}" if count > 1 else profile.name, count, memory)


def resolve_domain(domain: str) -> tuple[str, ...]:
    """The catalog domains of a user's domain; SuggestError with a did-you-mean when no word of it is known."""
    found = catalog_domains(domain)
    if found is not None:
        return found
    guess = closest_word(domain)
    hint = f"did you mean `{guess}`? " if guess else ""
    raise SuggestError(
        f"unknown domain `{domain}`: {hint}known subjects include healthcare, finance, legal, code, science, "
        "multilingual and sports; use `--domain general` for any other subject"
    )


def _dims(entry: CatalogEntry) -> ModelDims:
    return ModelDims(**entry.architecture.model_dump(), kind=entry.kind)


def peak(entry: CatalogEntry, strategy: str, micro_batch: int, gpus: int = 1, shard: str = "none") -> int:
    """Estimated peak bytes on one GPU of training `entry` with `strategy` at the stated workload."""
    settings = MemorySettings(
        strategy=strategy,
        micro_batch=micro_batch,
        seq_len=min(SEQ_LEN, entry.context_length),
        precision="bf16",
        optimizer="adamw",
        gradient_checkpointing=True,
        shard=shard,
        processes=gpus,
        lora_rank=LORA_RANK,
        lora_targets="all_linear",
        quant_bits=4 if strategy == "qlora" else None,
    )
    return estimate(_dims(entry), settings).peak


def cheapest_fit(entry: CatalogEntry, hw: Hardware, micro_batch: int) -> Fit | None:
    """Full, then LoRA, then QLoRA, each on one GPU's share and then sharded over all of them; None if none fits."""
    if hw.usable is None:
        return None
    for strategy in STRATEGIES:
        for shard in ("none", "fsdp") if hw.gpus > 1 else ("none",):
            found = peak(entry, strategy, micro_batch, hw.gpus, shard)
            if found <= hw.usable:
                return Fit(strategy, found, shard != "none")
    return None


def _order(candidate: Candidate, task: str | None) -> tuple:
    """Specialists first; encoders first for classification, decoders first otherwise; then smaller models first."""
    kind_rank = (candidate.entry.kind == "encoder") != (task == "classification")
    return (not candidate.specialist, kind_rank, candidate.entry.params, candidate.entry.id.lower())


def candidates(
    wanted: tuple[str, ...], task: str | None, hw: Hardware | None, micro_batch: int
) -> tuple[list[Candidate], dict[str, int]]:
    """The candidates in the order shown (too large ones included, `fit` None), and counts of what was left out."""
    found, left_out = [], {"other domains": 0, "encoders": 0}
    for entry in load_catalog():
        specialist = bool(set(entry.domains) & set(wanted))
        if not specialist and not general_purpose(entry.domains):
            left_out["other domains"] += 1
            continue
        if task in GENERATIVE and entry.kind == "encoder":
            left_out["encoders"] += 1  # an encoder has no language-model head to generate with
            continue
        peaks = {strategy: peak(entry, strategy, micro_batch) for strategy in STRATEGIES}
        fit = cheapest_fit(entry, hw, micro_batch) if hw is not None else None
        found.append(Candidate(entry, specialist, peaks, fit))
    return sorted(found, key=lambda c: _order(c, task)), left_out


def suggest(
    domain: str,
    task: str | None = None,
    target: str | None = None,
    gpus: int | None = None,
    gpu_memory: str | None = None,
    micro_batch: int = 4,
) -> str:
    """The text `ftspec suggest` prints; SuggestError for usage errors."""
    if task is not None and task not in TASKS:
        raise SuggestError(f"unknown task `{task}`; expected one of {', '.join(TASKS)}")
    if micro_batch not in MICRO_BATCHES:
        raise SuggestError("--micro-batch: give 1, 2, 3 or 4")
    wanted = resolve_domain(domain)
    hw = hardware(target, gpus, gpu_memory)
    found, left_out = candidates(wanted, task, hw, micro_batch)
    heading = f"{domain}: " + (f"{describe(wanted)} specialists first" if wanted else "general-purpose models")
    return render(heading, wanted and describe(wanted), task, hw, found, left_out, micro_batch)
