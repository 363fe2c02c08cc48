"""Combinations that cannot work, found before anything runs, each pointing at its cause."""

from __future__ import annotations

from ..diagnostics import Diagnostics
from .data_combinations import check_data_settings, check_source
from .mixture import ANSWER_METRICS, check_mixture
from .preference import check_objective
from .schema import PEFT_KINDS, Percent, Spec
from .sourcemap import SourceMap

# Which column settings each data format reads.
FORMAT_COLUMNS = {
    "text": ("text",),
    "instruction": ("prompt", "input", "response", "template", "chat_template", "train_on_prompt"),
    "chat": (
        "messages",
        "chat_template",
        "train_on_prompt",
        "role_key",
        "content_key",
        "user_role",
        "assistant_role",
        "system_role",
    ),
    "classification": ("text", "label", "labels"),
    "preference": ("prompt", "template", "chat_template", "chosen", "rejected", "completion", "label"),
}
# Column settings a format cannot do without (the others have defaults).
REQUIRED_COLUMNS = {"instruction": ("prompt", "response"), "classification": ("label", "labels")}
TASK_METRICS = {
    "text": {"perplexity", "loss"},
    "instruction": {"perplexity", "loss", "response_loss", "rouge_l", "chrf"},
    "chat": {"perplexity", "loss", "response_loss", "rouge_l", "chrf"},
    "classification": {"accuracy", "macro_f1", "precision", "recall", "confusion_matrix", "loss"},
    "preference": {"preference_accuracy", "reward_margin"},
}


def impossible_combinations(spec: Spec, sources: SourceMap) -> Diagnostics:
    """All combination errors of a validated spec, in source order of their causes."""
    diags = Diagnostics()
    _base_and_strategy(spec, sources, diags)
    _data_columns(spec, sources, diags)
    _exclusive(spec, sources, diags)
    _tokenizer(spec, sources, diags)
    _architecture(spec, sources, diags)
    _evaluation(spec, sources, diags)
    _generation(spec, sources, diags)
    _percentages(spec, sources, diags)
    _launcher(spec, sources, diags)
    check_data_settings(spec, sources, diags)
    check_objective(spec, sources, diags)
    # A mixture's first source was checked as `data` above; the others are checked alike, each in its block.
    for name, data in list(spec.mixture.items())[1:]:
        source, where = spec.model_copy(update={"data": data}), sources.for_source(name)
        _data_columns(source, where, diags)
        _exclusive(source, where, diags, only="data")
        _percentages(source, where, diags, only="data")
        check_source(source, where, diags)
    check_mixture(spec, sources, diags)
    return diags


def _base_and_strategy(spec: Spec, sources: SourceMap, diags: Diagnostics) -> None:
    kind = spec.strategy.kind
    if kind == "scratch" and spec.base is not None:
        diags.error(
            "FT201",
            "`strategy scratch` trains a new model, but a `base` is given",
            sources.at("base"),
            "remove the `base` block, or pick a fine-tuning strategy such as `strategy lora`",
        )
    if kind != "scratch" and spec.base is None:
        diags.error(
            "FT206",
            f"`strategy {kind}` fine-tunes a base model, but no `base` is given",
            sources.at("strategy"),
            'add `base { model = "owner/name" }` (or `spec = "other.ft"`), or use `strategy scratch`',
        )
    if spec.base is not None and spec.base.model is None and spec.base.spec is None:
        diags.error(
            "FT108",
            "`base` needs `model` or `spec`",
            sources.at("base"),
            'add `model = "owner/name"` (a hub id or a directory) or `spec = "other.ft"`',
        )
    if spec.output.merge and kind not in PEFT_KINDS:
        diags.error(
            "FT207",
            f"`output.merge` has nothing to merge: `strategy {kind}` trains the weights themselves",
            sources.at("output", "merge"),
            "remove `merge = true`; the saved model is already whole",
        )


def _data_columns(spec: Spec, sources: SourceMap, diags: Diagnostics) -> None:
    data = spec.data
    fmt = data.format
    for required in REQUIRED_COLUMNS.get(fmt, ()):
        if getattr(data, required) is None:
            example = f'{required} = "column"' if required != "labels" else "labels = [negative, positive]"
            diags.error(
                "FT204",
                f"`format = {fmt}` needs `data.{required}`",
                sources.at("data", "format"),
                f"add `{example}` to the `data` block",
            )
    keys = ("prompt", "input", "response", "template", "messages", "chat_template", "label", "labels", "text")
    keys += ("role_key", "content_key", "user_role", "assistant_role", "system_role")
    for key in (*keys, "chosen", "rejected", "completion"):
        if sources.setting("data", key) is not None and key not in FORMAT_COLUMNS[fmt]:
            users = [f for f, keys in FORMAT_COLUMNS.items() if key in keys]
            diags.error(
                "FT204",
                f"`data.{key}` does not apply to `format = {fmt}`",
                sources.at("data", key),
                f"`{key}` is read by "
                + " and ".join(f"`format = {u}`" for u in users)
                + "; remove it or change the format",
            )
    if data.packing and fmt == "classification":
        diags.error(
            "FT203",
            "`packing` does not apply to classification: each example gets one label",
            sources.at("data", "packing"),
            "remove `packing = true`",
        )
    if data.labels is not None and len(set(data.labels)) != len(data.labels):
        twice = next(label for label in data.labels if data.labels.count(label) > 1)
        diags.error(
            "FT209",
            f"label `{twice}` appears twice in `data.labels`",
            sources.at("data", "labels"),
            "list each label once",
        )


def _exclusive(spec: Spec, sources: SourceMap, diags: Diagnostics, only: str | None = None) -> None:
    pairs = [
        ("data", "eval", "eval_split"),
        ("train", "epochs", "max_steps"),
        ("base", "model", "spec"),
        ("tokenizer", "train", "model"),
        ("eval", "every", "per_epoch"),
    ]
    for block, first, second in pairs:
        if only is not None and block != only:
            continue
        a, b = sources.setting(block, first), sources.setting(block, second)
        if a is None or b is None:
            continue
        if block == "tokenizer" and not spec.tokenizer.train:
            continue
        diags.error(
            "FT205",
            f"`{block}.{first}` and `{block}.{second}` exclude each other",
            b.key_span,
            f"keep one of them (`{first}` is set on line {a.key_span.line})",
        )


def _tokenizer(spec: Spec, sources: SourceMap, diags: Diagnostics) -> None:
    scratch = spec.strategy.kind == "scratch"
    if spec.tokenizer.train and not scratch:
        diags.error(
            "FT208",
            "`tokenizer.train` learns a new vocabulary, but a fine-tune must keep its base's",
            sources.at("tokenizer", "train"),
            "remove `train = true`; the base model's tokenizer is used",
        )
    if scratch and not spec.tokenizer.train and spec.tokenizer.model is None:
        diags.error(
            "FT208",
            "`strategy scratch` needs a tokenizer",
            sources.at("strategy"),
            'add `tokenizer { train = true }` to learn one from the data, or `tokenizer { model = "owner/name" }`',
        )
    if sources.setting("tokenizer", "vocab_size") is not None and not spec.tokenizer.train:
        diags.error(
            "FT208",
            "`tokenizer.vocab_size` applies only when the tokenizer is trained",
            sources.at("tokenizer", "vocab_size"),
            "add `train = true`, or remove `vocab_size`",
        )


def _architecture(spec: Spec, sources: SourceMap, diags: Diagnostics) -> None:
    strategy = spec.strategy
    if strategy.kind != "scratch":
        return
    if strategy.hidden_size % strategy.heads:
        diags.error(
            "FT210",
            f"`hidden_size = {strategy.hidden_size}` is not divisible by `heads = {strategy.heads}`",
            sources.at("strategy", "heads"),
            "each head gets hidden_size / heads dimensions; pick a divisor",
        )
    kv = strategy.kv_heads
    if kv is not None and strategy.architecture == "gpt2":
        diags.error(
            "FT210",
            "`kv_heads` applies to `architecture = llama`, `qwen2` and `mistral`; gpt2 has one key/value per head",
            sources.at("strategy", "kv_heads"),
            "remove `kv_heads`",
        )
    elif kv is not None and strategy.heads % kv:
        diags.error(
            "FT210",
            f"`heads = {strategy.heads}` is not divisible by `kv_heads = {kv}`",
            sources.at("strategy", "kv_heads"),
            "grouped-query attention shares each key/value head among heads / kv_heads heads",
        )
    if strategy.context is not None and strategy.context < spec.data.max_length:
        diags.error(
            "FT210",
            f"`context = {strategy.context}` is shorter than `data.max_length = {spec.data.max_length}`",
            sources.at("strategy", "context"),
            f"raise `context` to at least {spec.data.max_length}, or lower `max_length`",
        )


def _evaluation(spec: Spec, sources: SourceMap, diags: Diagnostics) -> None:
    if spec.eval.compare_base and spec.base is None:
        why = "`strategy scratch` has no base" if spec.strategy.kind == "scratch" else "there is no `base`"
        diags.error(
            "FT202",
            f"`compare_base` needs a base model to compare with, but {why}",
            sources.at("eval", "compare_base"),
            "remove `compare_base = true`",
        )
    fmt = spec.data.format
    if fmt == "classification" and spec.eval.prompts:
        diags.error(
            "FT211",
            "`eval.prompts` asks for generated answers, but a classifier predicts labels",
            sources.at("eval", "prompts"),
            "remove `prompts`; the report shows the confusion matrix instead",
        )
    # A mixture is measured as text is (FT265 says why answer scores are not).
    fmt = "text" if spec.mixture else fmt
    for index, metric in enumerate(spec.eval.metrics or ()):
        if metric not in TASK_METRICS[fmt] and not (spec.mixture and metric in ANSWER_METRICS):
            metrics = sources.setting("eval", "metrics")
            span = metrics.value.value[index].span if metrics is not None else sources.at("eval")
            diags.error(
                "FT211",
                f"metric `{metric}` does not apply to `format = {fmt}`",
                span,
                "metrics for this format: " + ", ".join(f"`{m}`" for m in sorted(TASK_METRICS[fmt])),
            )


# The settings of how eval.py generates answers.
GENERATION_SETTINGS = ("max_new_tokens", "temperature", "top_p", "repetition_penalty", "samples")


def _generation(spec: Spec, sources: SourceMap, diags: Diagnostics) -> None:
    fmt = spec.data.format
    written = [key for key in GENERATION_SETTINGS if sources.setting("eval", key) is not None]
    if fmt == "classification":
        for key in written:
            diags.error(
                "FT213",
                f"`eval.{key}` sets how answers are generated, but a classifier predicts labels",
                sources.at("eval", key),
                f"remove `{key}`; the report shows accuracy and the confusion matrix instead",
            )
        return
    if fmt == "text" and "samples" in written and spec.eval.samples > 0 and not spec.mixture:
        diags.error(
            "FT215",
            "`eval.samples` scores answers against reference answers, but `format = text` rows have none",
            sources.at("eval", "samples"),
            "remove `samples`, or use `format = instruction` or `chat`, whose rows hold a reference answer",
        )
    if spec.eval.temperature == 0 and spec.eval.top_p < 1 and "top_p" in written:
        diags.error(
            "FT214",
            f"`top_p = {spec.eval.top_p:g}` restricts sampling, but `temperature = 0` decodes greedily",
            sources.at("eval", "top_p"),
            "set `temperature` above 0 (0.7 is common) to sample, or remove `top_p`",
        )


def _percentages(spec: Spec, sources: SourceMap, diags: Diagnostics, only: str | None = None) -> None:
    """Shares of something must lie between none and all of it."""
    strategy = spec.strategy
    cases = [
        # A held-out share of 100% leaves nothing to train on; 0% holds nothing out (see data_combinations).
        ("data", "eval_split", spec.data.eval_split, False),
        ("train", "warmup", spec.train.warmup, True),
        ("strategy", "warmup", getattr(strategy, "warmup", None), True),
        ("strategy", "final", getattr(strategy, "final", None), True),
    ]
    for block, key, value, all_of_it in cases:
        if not isinstance(value, Percent) or (only is not None and block != only):
            continue
        if not (0 <= value.value <= 100 if all_of_it else 0 <= value.value < 100):
            bounds = "from 0% to 100%" if all_of_it else "from 0% to less than 100%"
            diags.error("FT106", f"`{block}.{key}` must be {bounds}, found {value}", sources.at(block, key))


def _launcher(spec: Spec, sources: SourceMap, diags: Diagnostics) -> None:
    hardware = spec.hardware
    launcher = hardware.launcher if hardware.launcher != "auto" else ("slurm" if hardware.nodes > 1 else "none")
    if launcher in ("kubernetes", "skypilot"):
        return
    for key in ("image", "volume"):
        if getattr(hardware, key) is not None:
            starts = "`slurm.sh` starts" if launcher == "slurm" else "`launch.sh` runs"
            diags.error(
                "FT220",
                f"`hardware.{key}` is for a container, but {starts} the run without one (`launcher = {launcher}`)",
                sources.at("hardware", key),
                f"set `launcher = kubernetes` or `launcher = skypilot`, or remove `{key}`",
            )
