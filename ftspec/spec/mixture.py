"""Several data sources in one spec: labelled data blocks (`data NAME { ... }`), each one source of the mix.

What the weights mean is said once, in `spec.datablocks.Data.weight` (and the README): a source's share of every
epoch's training sequences. Here the sources are put together after validation (the run-wide settings shared,
FT262 where two disagree) and what cannot be mixed is refused, each at the setting that causes it.
"""

from __future__ import annotations

from ..diagnostics import Diagnostics
from . import schema
from .sourcemap import SourceMap

# Metrics and settings that score generated answers against one format's reference answers: not of a mixture.
ANSWER_METRICS = ("response_loss", "rouge_l", "chrf")


def combine(
    mixture: dict[str, schema.Data], sources: SourceMap, diags: Diagnostics
) -> tuple[schema.Data, dict[str, schema.Data]]:
    """The sources, each with the run-wide settings any of them sets (FT262 where two set one differently); the
    first source stands in as `data` for what concerns the run as a whole."""
    agreed: dict[str, tuple[str, object]] = {}
    for name, data in mixture.items():
        for key in schema.RUN_WIDE:
            if key not in data.model_fields_set:
                continue
            value = getattr(data, key)
            if key in agreed and agreed[key][1] != value:
                first = agreed[key][0]
                line = sources.settings[(f"data.{first}", key)].key_span.line
                diags.error(
                    "FT262",
                    f"`{key}` of source `{name}` differs from source `{first}`'s",
                    sources.at(f"data.{name}", key),
                    f"`{key}` is one for the whole mixture: set it alike in every source, or only in `{first}`"
                    f" (line {line})",
                )
            agreed.setdefault(key, (name, value))
    shared = {key: value for key, (_, value) in agreed.items()}
    filled = {name: data.model_copy(update=shared) for name, data in mixture.items()}
    first = next(iter(filled))
    sources.alias("data", f"data.{first}")
    return filled[first], filled


def check_mixture(spec: schema.Spec, sources: SourceMap, diags: Diagnostics) -> None:
    """What a mixture cannot hold, and a weight outside one."""
    if not spec.mixture:
        if spec.data.weight is not None:
            diags.error(
                "FT264",
                "`data.weight` is a source's share of a mixture, but this `data` block is the only source",
                sources.at("data", "weight"),
                "remove `weight`, or label the blocks of a mixture: `data chat { ... weight = 2 }`",
            )
        return
    for name, data in spec.mixture.items():
        block = f"data.{name}"
        if data.format == "classification" and len(spec.mixture) > 1:
            generative = next((other for other in spec.mixture if other != name), name)
            diags.error(
                "FT261",
                f"source `{name}` is classification data, which cannot be mixed: a classifier predicts labels, "
                f"while source `{generative}` trains a language model",
                sources.at(block, "format"),
                "mix `text`, `instruction` and `chat` sources; train a classifier from one `data { ... }` block",
            )
        if data.train.startswith("hub:"):
            diags.error(
                "FT263",
                f"source `{name}` reads a hub dataset; the sources of a mixture are local files",
                sources.at(block, "train"),
                "download it (`datasets` `save_to_disk` or `to_json`) and name the local file",
            )
        if data.format == "instruction" and data.chat_template is not None:
            diags.error(
                "FT266",
                f"source `{name}` renders instruction rows as chat turns, which a mixture does not do",
                sources.at(block, "chat_template"),
                "remove `chat_template`, or convert the rows to conversations (`format = chat`)",
            )
    for index, metric in enumerate(spec.eval.metrics or ()):
        if metric in ANSWER_METRICS:
            written = sources.setting("eval", "metrics")
            span = written.value.value[index].span if written is not None else sources.at("eval")
            diags.error(
                "FT265",
                f"metric `{metric}` scores answers against one format's references; a mixture reports held-out "
                "loss and perplexity, overall and per source",
                span,
                "metrics of a mixture: `loss`, `perplexity`",
            )
    if sources.setting("eval", "samples") is not None and spec.eval.samples > 0:
        diags.error(
            "FT265",
            "`eval.samples` scores answers against one format's references; a mixture reports held-out loss and "
            "perplexity, overall and per source",
            sources.at("eval", "samples"),
            "remove `samples`; `eval.prompts` are still answered",
        )
    if spec.tokenizer.train:
        diags.error(
            "FT267",
            "`tokenizer.train` learns a vocabulary from one source's rows; a mixture takes the base's tokenizer",
            sources.at("tokenizer", "train"),
            'train the tokenizer in the base\'s spec, or name one: `tokenizer { model = "owner/name" }`',
        )
    if spec.objective is not None:
        diags.error(
            "FT268",
            f"`objective {spec.objective.kind}` learns from pairs of answers in one `preference` file; "
            "a mixture's sources are supervised data",
            sources.at("objective"),
            "train the mixture with supervised learning first, then tune its model with the objective from one "
            "`data { format = preference ... }` block, in a spec whose `base.spec` is the first",
        )
