"""Decide what the special tokens need, from the base's own tokenizer and weights, before anything trains.

FT801  chat-template tokens whose embedding rows the base never trained, under a strategy that cannot train them
FT802  a tokenizer that produces ids beyond the model's embedding rows
FT803  a prompt template that writes the BOS token the tokenizer adds already
FT246  conversations left to the tokenizer's own chat template, which the base's tokenizer lacks
FT807  a chat template whose end-of-turn token is not a token generation stops at
FT808  a padding token that is the end-of-sequence token, with no other token of the tokenizer to pad with

Fixed here instead of reported: a padding token equal to the end-of-sequence token where the tokenizer has a
spare one (a padding or reserved token, else its unknown token), and untrained chat tokens under LoRA or QLoRA
(their rows train beside the adapter, through peft's `trainable_token_indices`).
"""

from __future__ import annotations

import re
from collections import Counter

from ..diagnostics import Diagnostic, Severity
from ..figures import plural
from ..inputs.basefiles import BaseFiles, row_norms
from .mixture import each_source
from .plan import Plan

UNTRAINED = 1e-3  # a row whose norm is under this share of an ordinary row's was never trained
SAMPLE_ROWS = 32  # ordinary rows read to learn what a trained row's norm is
CONTENT = re.compile(r"content")
SPARE = re.compile(r"pad|reserved", re.IGNORECASE)  # added tokens free to pad with (Llama 3's reserved ones)


def _warning(code: str, message: str, span, help: str) -> Diagnostic:
    return Diagnostic(code, message, span, help, Severity.WARNING)


def _names(tokens) -> str:
    return ", ".join(f"`{t}`" for t in tokens)


def template_tokens(files: BaseFiles, template: str) -> dict[str, int]:
    """The special tokens a chat template writes: added tokens it spells out, and the BOS/EOS it names."""
    found = {text: id for text, id in files.added_tokens().items() if len(text) > 1 and text in template}
    for key in ("bos_token", "eos_token"):
        text = files.token(key)
        if key in template and text is not None and files.token_id(text) is not None:
            found[text] = files.token_id(text)
    return dict(sorted(found.items(), key=lambda item: item[1]))


def end_of_turn(files: BaseFiles, template: str) -> str | None:
    """The special token written right after a message's content, where the template shows one."""
    specials = [t for t in files.added_tokens() if len(t) > 1]
    seen: Counter[str] = Counter()
    for match in CONTENT.finditer(template):
        rest = template[match.end() :]
        places = [(rest.find(t), t) for t in specials if rest.find(t) >= 0]
        if places:
            seen[min(places)[1]] += 1
    return seen.most_common(1)[0][0] if seen else None


def untrained_rows(files: BaseFiles, ids: dict[str, int]) -> tuple[dict[str, int], float | None]:
    """Those of ``ids`` whose input-embedding rows were never trained, and an ordinary row's median norm."""
    tensor = files.embedding()
    if tensor is None or not ids:
        return {}, None
    specials = set(files.added_tokens().values())
    rows = tensor.shape[0]
    sample = sorted({i for i in range(0, rows, max(1, rows // SAMPLE_ROWS)) if i not in specials})
    norms = row_norms(tensor, sorted(set(ids.values()) | set(sample)))
    if not norms:
        return {}, None
    ordinary = sorted(norms[i] for i in sample if i in norms)
    median = ordinary[len(ordinary) // 2] if ordinary else 0.0
    if median <= 0:
        return {}, None
    return {text: id for text, id in ids.items() if id in norms and norms[id] <= UNTRAINED * median}, median


def _chat_template(plan: Plan, files: BaseFiles) -> tuple[str | None, object]:
    """The template the script renders, and the span to point at for it."""
    if plan.data.format != "chat":
        return None, None
    sources = plan.inputs.sources
    if plan.data.chat_template is not None:
        key = "chat_template" if sources.setting("data", "chat_template") else "format"
        return plan.data.chat_template, sources.at("data", key)
    return files.chat_template(), sources.at("data", "format")


def _no_template(plan: Plan, files: BaseFiles) -> Plan:
    """FT246: conversations left to the tokenizer's own chat template, which this base's tokenizer lacks."""
    turns = plan.data.format == "chat" or plan.data.chat_turns
    if not turns or plan.data.chat_template is not None or files.chat_template() is not None:
        return plan
    sources = plan.inputs.sources
    key = "chat_template" if sources.setting("data", "chat_template") else "format"
    return plan.diagnose(
        Diagnostic(
            "FT246",
            "conversations are rendered with the tokenizer's own chat template, but the base's tokenizer has none",
            sources.at("data", key),
            'name one: `chat_template = chatml` (or llama3, llama2, mistral, "qwen2.5", qwen3, gemma, "phi-3"),'
            " the one the base was trained with if it was",
        )
    )


def _oversized(plan: Plan, files: BaseFiles) -> Plan:
    """FT802: ids the tokenizer produces that the embedding has no row for."""
    tokens, rows = files.vocabulary_size(), (files.config or {}).get("vocab_size")
    tensor = files.embedding()
    rows = tensor.shape[0] if tensor is not None else rows
    if not isinstance(rows, int) or tokens is None or tokens <= rows:
        return plan
    beyond = sorted(text for text, id in files.added_tokens().items() if id >= rows)
    sources = plan.inputs.sources
    named = sources.setting("tokenizer", "model") is not None
    shown = _names(beyond[:4]) + (", …" if len(beyond) > 4 else "")
    return plan.diagnose(
        Diagnostic(
            "FT802",
            f"the tokenizer produces ids up to {tokens - 1:,}, but the model's embedding has {rows:,} rows"
            + (f": {shown} would index past it" if beyond else ""),
            sources.at("tokenizer", "model") if named else sources.at("base", "model"),
            "use the tokenizer saved with this base (`tokenizer.model` unset)"
            if named
            else "the base's config.json and tokenizer disagree: use a base whose `vocab_size` covers its tokenizer",
        )
    )


def _double_bos(plan: Plan, files: BaseFiles) -> Plan:
    """FT803: an instruction template that starts with the BOS token the tokenizer adds on its own."""
    bos, template = files.token("bos_token"), plan.data.template
    if plan.data.format != "instruction" or template is None or bos is None or not files.adds_bos():
        return plan
    if not template.lstrip().startswith(bos):
        return plan
    return plan.diagnose(
        _warning(
            "FT803",
            f"the prompt template starts with `{bos}`, and the tokenizer adds `{bos}` itself: every example would "
            "begin with two BOS tokens",
            plan.inputs.sources.at("data", "template"),
            f"remove `{bos}` from the start of `data.template`",
        )
    )


def _stop_token(plan: Plan, files: BaseFiles, template: str, span) -> Plan:
    """FT807: the end-of-turn token is not one that generation stops at."""
    turn = end_of_turn(files, template)
    stops = files.stop_ids() or tuple(i for i in [files.token_id(files.token("eos_token"))] if i is not None)
    turn_id = files.token_id(turn)
    if turn is None or turn_id is None or not stops or turn_id in stops:
        return plan
    names = [text for text, id in files.added_tokens().items() if id in stops] or [str(i) for i in stops]
    return plan.diagnose(
        _warning(
            "FT807",
            f"the chat template ends each turn with `{turn}` (id {turn_id}), but generation stops only at "
            f"{_names(names)}: the tuned model would keep writing past its answers in vLLM, Ollama or `generate`",
            span,
            f'add {turn_id} to `eos_token_id` in the base\'s generation_config.json (e.g. "eos_token_id": '
            f"[{', '.join(map(str, (*stops, turn_id)))}]), or use a chat template that ends turns with "
            f"{_names(names[:1])}",
        )
    )


def _untrained(plan: Plan, files: BaseFiles, template: str, span) -> Plan:
    """FT801, or the fix: chat tokens whose embedding rows are untrained."""
    new, median = untrained_rows(files, template_tokens(files, template))
    if not new:
        return plan
    kind, strategy = plan.strategy.kind, plan.strategy
    listed = _names(new)
    if kind in ("lora", "qlora"):
        ids = sorted(new.values())
        untied = any(name.startswith("lm_head.") for name in files.weight_names)
        # An untied output head has rows of its own for these tokens, which must learn to predict them.
        indices = {files.embedding_module(): ids, "lm_head": ids} if untied else ids
        peft = {**strategy.peft, "trainable_token_indices": indices}
        plan = plan.with_(strategy=strategy.model_copy(update={"peft": peft}))
        return plan.note(
            f"the chat template's {listed} have untrained embedding rows in the base: those "
            f"{plural(len(ids), 'row')} train beside the adapter (peft `trainable_token_indices`)"
        )
    if kind == "full" and "embeddings" not in strategy.freeze:
        return plan.note(f"the chat template's {listed} have untrained embedding rows; full fine-tuning trains them")
    why = "freezes the embeddings" if kind == "full" else "cannot train embedding rows"
    return plan.diagnose(
        _warning(
            "FT801",
            f"the chat template uses {listed}, whose embedding rows the base never trained (norm below "
            f"{UNTRAINED:g} of an ordinary row's {median:.3g}), and `strategy {kind}` {why}: these tokens would "
            "stay noise to the model",
            span,
            "use `strategy lora` (ftspec then trains those rows beside the adapter) or `strategy full` with the "
            "embeddings unfrozen, or a chat template made of tokens the base knows",
        )
    )


def _overrides(plan: Plan, files: BaseFiles) -> Plan:
    """FT245: an `eos_token` or `pad_token` the tokenizer does not have."""
    for key in ("eos_token", "pad_token"):
        text = getattr(plan.spec.tokenizer, key)
        if text is None or files.token_id(text) is not None:
            continue
        owner = "tokenizer" if plan.tokenizer.source == "named" else "base's tokenizer"
        plan = plan.diagnose(
            Diagnostic(
                "FT245",
                f'`tokenizer.{key} = "{text}"` is not a token of the {owner}: it would be split into pieces',
                plan.inputs.sources.at("tokenizer", key),
                "name one of its tokens, e.g. one of " + _names(list(files.added_tokens())[:4]),
            )
        )
    return plan


def _padding(plan: Plan, files: BaseFiles, template: str | None) -> Plan:
    """A padding token distinct from EOS where the tokenizer has a spare one; else FT808."""
    eos, pad = plan.tokenizer.eos_token or files.token("eos_token"), files.token("pad_token")
    if plan.tokenizer.source == "train" or plan.spec.tokenizer.pad_token is not None:
        return plan
    if eos is None or (pad is not None and pad != eos):
        return plan
    used = set(template_tokens(files, template)) if template else set()
    spare = [t for t in files.added_tokens() if SPARE.search(t) and t not in used and t != eos]
    unk = files.token("unk_token")
    choice = spare[0] if spare else (unk if unk and unk != eos else None)
    if choice is None:
        return plan.diagnose(
            _warning(
                "FT808",
                f"the base's tokenizer pads with its end-of-sequence token `{eos}` and has no other token to pad "
                f"with: this run still learns `{eos}` (train.py masks padding by position), but the tokenizer it "
                f"saves pads with `{eos}`, and a trainer that masks padding by id (TRL's collator) would drop every "
                f"`{eos}` from the loss: the model it tunes would never learn to stop",
                plan.inputs.sources.at("base", "model"),
                f'set `tokenizer.pad_token = "…"` to a token of the tokenizer that is not `{eos}` (padding never '
                f"reaches the loss, so a rare one serves), or start from a base whose tokenizer has a padding or "
                f"reserved token (ftspec pads with it)",
            )
        )
    plan = plan.with_(tokenizer=plan.tokenizer.model_copy(update={"pad_token": choice}))
    return plan.note(
        f"padding uses `{choice}`, not the end-of-sequence token `{eos}`, so tools that mask padding by id keep "
        "learning EOS from the saved tokenizer"
    )


def skipped(plan: Plan) -> Plan:
    """One note naming the checks of the base's files that could not run, and why."""
    files, base = plan.inputs.base_files, plan.base
    if base.source == "none":
        return plan
    missing = []
    if plan.tokenizer.source != "train" and (files is None or not files.has_tokenizer):
        missing.append("padding, chat tokens, BOS and stop tokens (tokenizer.json)")
    elif plan.data.format == "chat" and plan.tokenizer.source != "train" and files.embedding() is None:
        missing.append("untrained chat tokens (the embedding in the safetensors weights)")
    if plan.strategy.peft and isinstance(plan.strategy.peft.get("target_modules"), list):
        if files is None or not files.weight_names:
            missing.append("adapter targets (safetensors weights)")
    if files is None or files.config is None:
        missing.append("attention soft-capping (config.json)")
    if not missing:
        return plan
    where = f"the base is what spec `{base.spec}` builds" if base.source == "spec" else "not on this machine"
    return plan.note(f"checks of the base's files skipped, {where}: " + "; ".join(missing))


def decide_special_tokens(plan: Plan) -> Plan:
    """Padding, untrained chat tokens, BOS and stop tokens, from the base's tokenizer files."""
    plan = skipped(plan)
    files = plan.inputs.base_files
    if files is None or not files.has_tokenizer or plan.base.source == "none" or plan.tokenizer.source == "train":
        return plan
    template, span = _chat_template(plan, files)
    plan = _oversized(plan, files)
    # Of each source of a mixture: whether its template has what it needs of the tokenizer.
    plan = each_source(plan, lambda own: _double_bos(_no_template(own, files), files))
    plan = _overrides(plan, files)
    plan = _padding(plan, files, template)
    if template is not None:
        plan = _untrained(plan, files, template, span)
        plan = _stop_token(plan, files, template, span)
    return plan
