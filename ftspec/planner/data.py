"""Decide how data is read: the loader, the columns, the prompt template, packing and the split."""

from __future__ import annotations

import string

from ..diagnostics import Diagnostic, closest
from .plan import DataPlan, Plan

LOADERS = {
    ".jsonl": "json",
    ".json": "json",
    ".csv": "csv",
    ".txt": "text",
    ".text": "text",
    ".md": "text",
    ".parquet": "parquet",
}

# Prompt templates by name; `{prompt}` stands for the prompt column.
TEMPLATES = {
    "default": "### Question:\n{prompt}\n\n### Answer:\n",
    "alpaca": (
        "Below is an instruction that describes a task. "
        "Write a response that appropriately completes the request.\n\n"
        "### Instruction:\n{prompt}\n\n### Response:\n"
    ),
    "plain": "{prompt}\n",
}
# Chat templates by name (Jinja, as transformers renders them).
CHAT_TEMPLATES = {
    "chatml": (
        "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    ),
    "llama3": (
        "{{ bos_token }}{% for message in messages %}<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n"
        "{{ message['content'] }}<|eot_id|>{% endfor %}"
        "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
    ),
}
DEFAULT_EVAL_SPLIT = 0.10


def _loader(plan: Plan) -> tuple[str | None, Diagnostic | None]:
    spec, inputs = plan.spec, plan.inputs
    if spec.data.train.startswith("hub:"):
        return "hub", None
    files = (*inputs.data_train, *inputs.data_eval)
    kinds = {LOADERS.get(path.suffix.lower()) for path in files}
    if None in kinds:
        odd = next(path for path in files if path.suffix.lower() not in LOADERS)
        key = "train" if odd in inputs.data_train else "eval"
        return None, Diagnostic(
            "FT306",
            f"ftspec cannot read `{odd.name}`: unknown file type `{odd.suffix or '(none)'}`",
            inputs.sources.at("data", key),
            "data files are .jsonl, .json, .csv, .parquet or .txt",
        )
    if len(kinds) > 1:
        return None, Diagnostic(
            "FT306",
            "the data files are of different types: " + ", ".join(sorted(kinds)),
            inputs.sources.at("data", "eval" if inputs.data_eval else "train"),
            "convert them to one type",
        )
    loader = kinds.pop() if kinds else "json"
    if loader == "text" and spec.data.format != "text":
        return None, Diagnostic(
            "FT306",
            f"a text file holds raw text, which `format = {spec.data.format}` cannot use",
            inputs.sources.at("data", "format"),
            "use `format = text`, or give a .jsonl or .csv file with columns",
        )
    return loader, None


def _template(plan: Plan) -> tuple[str | None, Diagnostic | None]:
    data, sources = plan.spec.data, plan.inputs.sources
    if data.format != "instruction" and not (data.format == "preference" and data.prompt):
        return None, None
    written = data.template or "default"
    if written in TEMPLATES:
        return TEMPLATES[written].replace("{prompt}", "{" + (data.prompt or "prompt") + "}"), None
    if "{" not in written:
        help = closest(written, TEMPLATES)
        return None, Diagnostic(
            "FT212",
            f"`{written}` is neither a template name nor a template",
            sources.at("data", "template"),
            (f"did you mean `{help}`? " if help else "")
            + "names: "
            + ", ".join(TEMPLATES)
            + "; or a string with `{column}` placeholders",
        )
    try:
        parts = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(written) if name is not None]
        fields = [name for name, _, _ in parts]
    except ValueError as err:
        return None, Diagnostic(
            "FT212",
            f"malformed template: {err}",
            sources.at("data", "template"),
            "write literal braces as `{{` and `}}`",
        )
    # Plain `{column}` only: a format spec such as `{q:>1000000000}` would pad every row at training time.
    bad = [name for name, spec, conv in parts if not name.isidentifier() or spec or conv]
    if bad or not fields:
        return None, Diagnostic(
            "FT212",
            "a template's placeholders must be column names such as `{question}`",
            sources.at("data", "template"),
            "write literal braces as `{{` and `}}`",
        )
    return written.replace("{prompt}", "{" + (data.prompt or "prompt") + "}"), None


def _chat_template(plan: Plan) -> tuple[str | None, Diagnostic | None]:
    data, sources = plan.spec.data, plan.inputs.sources
    if data.format != "chat" and not (data.format == "preference" and not data.prompt):
        return None, None  # preference rows without a prompt column are conversations
    written = data.chat_template
    if written is None:
        # A tokenizer learned from the data has no template of its own.
        return (CHAT_TEMPLATES["chatml"] if plan.tokenizer.source == "train" else None), None
    if written in CHAT_TEMPLATES:
        return CHAT_TEMPLATES[written], None
    if "{{" in written or "{%" in written:
        return written, None
    help = closest(written, CHAT_TEMPLATES)
    return None, Diagnostic(
        "FT212",
        f"`{written}` is neither a chat template name nor a Jinja template",
        sources.at("data", "chat_template"),
        (f"did you mean `{help}`? " if help else "") + "names: " + ", ".join(CHAT_TEMPLATES),
    )


def _overlong(plan: Plan) -> Diagnostic | None:
    """FT629: `overlong` says what to do with an example too long to fit; raw text has none, it is split."""
    data = plan.spec.data
    if data.format != "text" or data.overlong == "cut":
        return None
    return Diagnostic(
        "FT629",
        f"`overlong = {data.overlong}` does not apply to `format = text`: text is split into `max_length` pieces, "
        "never cut",
        plan.inputs.sources.at("data", "overlong"),
        "remove `overlong`, or use a format with whole examples (`instruction`, `chat`, `classification`)",
    )


def decide_data(plan: Plan) -> Plan:
    """Loader, columns, template, packing, shuffling seed and the held-out split.

    >>> from ftspec.planner.testing import plan_until
    >>> d = plan_until('data { format = instruction\\n prompt = "q"\\n response = "a" }', decide_data).data
    >>> d.loader, d.packing, d.group_by_length, d.eval_split, d.template
    ('json', False, True, 0.1, '### Question:\\n{q}\\n\\n### Answer:\\n')
    """
    spec, inputs = plan.spec, plan.inputs
    data = spec.data
    loader, problem = _loader(plan)
    if problem is not None:
        plan = plan.diagnose(problem)
    template, problem = _template(plan)
    if problem is not None:
        plan = plan.diagnose(problem)
    chat_template, problem = _chat_template(plan)
    if problem is not None:
        plan = plan.diagnose(problem)
    problem = _overlong(plan)
    if problem is not None:
        plan = plan.diagnose(problem)
    fmt = data.format
    has_eval = bool(data.eval)
    # Text is cut into pieces that fill rows exactly: packing wastes nothing. Whole examples are
    # batched with others of similar length instead: without variable-length attention kernels a
    # packed row pays attention over its whole length, a row of one example only over its own.
    packing = data.packing if data.packing is not None else fmt == "text"
    decided = DataPlan(
        format=fmt,
        loader=loader or "json",
        train=inputs.data_train,
        eval=inputs.data_eval,
        hub=data.train[len("hub:") :] if data.train.startswith("hub:") else None,
        revision=(data.revision or "main") if data.train.startswith("hub:") else None,
        eval_split=None if has_eval else (data.eval_split.fraction if data.eval_split else DEFAULT_EVAL_SPLIT),
        max_length=data.max_length,
        overlong=data.overlong,
        packing=packing,
        group_by_length=not packing,
        shuffle_seed=data.shuffle_seed if data.shuffle_seed is not None else spec.train.seed,
        text_column=(data.text or "text") if fmt in ("text", "classification") else None,
        prompt_column=(data.prompt or "prompt") if fmt == "instruction" else data.prompt,
        response_column=data.response if fmt == "instruction" else None,
        template=template,
        train_on_prompt=data.train_on_prompt,
        messages_column=(data.messages or "messages") if fmt == "chat" else None,
        chat_template=chat_template,
        label_column=data.label if fmt in ("classification", "preference") else None,
        labels=tuple(data.labels) if fmt == "classification" and data.labels else None,
    )
    return plan.with_(data=decided)
