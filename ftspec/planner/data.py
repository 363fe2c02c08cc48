"""Decide how data is read: the loader, the columns, the prompt template, packing and the split."""

from __future__ import annotations

import string

from ..diagnostics import Diagnostic, Severity, closest
from .chat_templates import CHAT_TEMPLATES
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
# Alpaca's own wording for a row with an input column; a row whose input is empty gets the template above.
ALPACA_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{prompt}\n\n### Input:\n{input}\n\n### Response:\n"
)
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
    """The prompt template with its placeholders named after the columns."""
    data, sources = plan.spec.data, plan.inputs.sources
    if data.format != "instruction" and not (data.format == "preference" and data.prompt):
        return None, None
    # In chat turns the template writes the user's message: the prompt itself unless told otherwise.
    turns = data.format == "instruction" and data.chat_template is not None
    written = data.template or ("plain" if turns else "default")
    if written in TEMPLATES and data.template is None and turns:
        return _columns("{prompt}\n\n{input}" if data.input else "{prompt}", data), None
    if written in TEMPLATES:
        named = ALPACA_INPUT if written == "alpaca" and data.input else TEMPLATES[written]
        if data.input and written != "alpaca":
            named = named.replace("{prompt}", "{prompt}\n\n{input}")
        return _columns(named, data), None
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
    return _columns(written, data), None


def _columns(template: str, data) -> str:
    """A template's `{prompt}` and `{input}` named after the columns that fill them."""
    template = template.replace("{prompt}", "{" + (data.prompt or "prompt") + "}")
    return template.replace("{input}", "{" + data.input + "}") if data.input else template


def _no_input_template(plan: Plan) -> str | None:
    """The template of a row whose input column is empty: the named template without its input."""
    data = plan.spec.data
    if data.format != "instruction" or not data.input:
        return None
    if data.template is None and data.chat_template is not None:
        return _columns("{prompt}", data)
    if (data.template or "default") not in TEMPLATES:
        return None
    return _columns(TEMPLATES[data.template or "default"], data)


def _chat_template(plan: Plan) -> tuple[str | None, Diagnostic | None]:
    """The Jinja chat template the script renders with; None: the tokenizer's own."""
    data, sources = plan.spec.data, plan.inputs.sources
    conversations = data.format == "preference" and not data.prompt  # preference rows without a prompt
    turns = data.format == "instruction" and data.chat_template is not None
    if data.format != "chat" and not conversations and not turns:
        return None, None
    written = data.chat_template
    if written is None:
        # A tokenizer learned from the data has no template of its own.
        return (CHAT_TEMPLATES["chatml"] if plan.tokenizer.source == "train" else None), None
    if written == "tokenizer" and plan.tokenizer.source != "train":
        return None, None
    if written in CHAT_TEMPLATES:
        return CHAT_TEMPLATES[written], None
    if "{{" in written or "{%" in written:
        return written, None
    names = [*CHAT_TEMPLATES, *(["tokenizer"] if plan.tokenizer.source != "train" else [])]
    help = closest(written, names)
    if written == "tokenizer":
        message = "a tokenizer learned from the data has no chat template of its own"
    else:
        message = f"`{written}` is neither a chat template name nor a Jinja template"
    return None, Diagnostic(
        "FT212",
        message,
        sources.at("data", "chat_template"),
        (f"did you mean `{help}`? " if help and help != written else "") + "names: " + ", ".join(names),
    )


def _roles(plan: Plan) -> dict[str, str] | None:
    """The data's role names, each to the role the chat template knows."""
    data = plan.spec.data
    if data.format != "chat":
        return None
    return {data.system_role: "system", data.user_role: "user", data.assistant_role: "assistant"}


def _no_held_out(plan: Plan) -> Plan:
    """FT511: `eval_split = 0%` trains on every row, so the report can show only what needs no held-out rows."""
    split = plan.spec.data.eval_split
    if plan.spec.data.eval or split is None or split.value != 0:
        return plan
    return plan.diagnose(
        Diagnostic(
            "FT511",
            "`eval_split = 0%` holds no rows out: the run reports its training loss and the answers to "
            "`eval.prompts`, but no held-out loss, perplexity or scored answers, so overfitting goes unseen",
            plan.inputs.sources.at("data", "eval_split"),
            "hold a few rows out (`eval_split = 2%`) or give an `eval` file, unless every row must train",
            Severity.WARNING,
        )
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
    >>> from ftspec.planner.mixture import decide_sources  # the pass that calls this one
    >>> d = plan_until('data { format = instruction\\n prompt = "q"\\n response = "a" }', decide_sources).data
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
    plan = _no_held_out(plan)
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
        split=data.split,
        config=data.config,
        data_files=tuple(data.data_files) if data.data_files else None,
        max_samples=data.max_samples,
        min_length=data.min_length,
        workers=data.workers,
        loader_workers=data.loader_workers,
        input_column=data.input if fmt == "instruction" else None,
        template_no_input=_no_input_template(plan),
        role_key=data.role_key if fmt == "chat" else None,
        content_key=data.content_key if fmt == "chat" else None,
        roles=_roles(plan),
        chat_turns=fmt == "instruction" and data.chat_template is not None,
        held_out=has_eval or data.eval_split is None or data.eval_split.value > 0,
    )
    return plan.with_(data=decided)
