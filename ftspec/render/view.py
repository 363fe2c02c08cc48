"""What the templates iterate and print, decided here in Python from the Plan.

Templates print; this module decides: which model class and peft task a script uses, how a
precision is named for Accelerate, which constants name local files that a script checks before
anything slow, and the like. `view(plan)` is the one entry point; `files.context` hands it to the
templates as `view`.
"""

from __future__ import annotations

from pathlib import Path

from ..planner.plan import DataPlan, Plan, relative
from ..planner.precision import ACCELERATE

# What each format of a mixture's source reads, by the name SOURCES gives it in the scripts.
SOURCE_KEYS = {
    "text": ("text_column",),
    "instruction": (
        "prompt_column",
        "response_column",
        "template",
        "input_column",
        "template_no_input",
        "train_on_prompt",
    ),
    "chat": ("messages_column", "role_key", "content_key", "roles", "chat_template", "train_on_prompt"),
}


def source_constants(data: DataPlan, share: float, out_dir: Path) -> dict:
    """One source of a mixture as the scripts' SOURCES holds it: its files relative to the scripts, the rows it
    reads, its share of each epoch and what its format reads of a row."""
    held = 0.0 if not data.held_out else data.eval_split
    constants = {
        "format": data.format,
        "share": share,
        "train": relative(list(data.train), out_dir),
        "eval": relative(list(data.eval), out_dir),
        "loader": data.loader,
        "split": data.split,
        "max_samples": data.max_samples,
        "eval_split": held,
    }
    constants.update({key: getattr(data, key) for key in SOURCE_KEYS[data.format]})
    return constants


def _held_out(data: DataPlan) -> str:
    if data.eval:
        return "its `eval` files"
    return f"{round((data.eval_split or 0) * 100, 2):g}% of its rows" if data.held_out else "none"


def mixture_view(plan: Plan, out_dir: Path | None) -> dict | None:
    """What the scripts of a mixture print beyond the plan: SOURCES, and the source eval.py's prompts follow."""
    if plan.mixture is None or out_dir is None:
        return None
    sources = plan.mixture.sources
    formats = sorted({source.data.format for source in sources})
    return {
        "sources": {s.name: source_constants(s.data, s.share, out_dir) for s in sources},
        "order": [s.name for s in sources],
        "prompt_source": sources[0].name,
        "formats": formats,
        "described": "a mixture of " + ", ".join(f"{s.name} ({s.data.format}, {s.share:.0%})" for s in sources),
        # The model card's held-out rows of each source.
        "held_out": ", ".join(f"{s.name} {_held_out(s.data)}" for s in sources),
    }


def local_inputs(plan: Plan, script: str) -> list[tuple[str, bool]]:
    """The constants of ``script`` (train.py or eval.py) that name local files it reads, and whether
    each holds a list.

    A script checks them first, so a copied script whose relative paths no longer lead anywhere
    stops at once with the constant to change, not minutes later inside `datasets`.
    """
    found = []
    if plan.data.loader != "hub":
        found.append(("TRAIN_FILES", True))
        if plan.data.eval:
            found.append(("EVAL_FILES", True))
    # eval.py loads the base under an adapter, and for the comparison (checked when COMPARE_BASE is on).
    loads_base = script == "train" or plan.strategy.saves == "adapter"
    if plan.base.source in ("local", "spec") and loads_base:
        found.append(("BASE_MODEL", False))
    if script == "train" and plan.tokenizer.source == "named" and plan.tokenizer.path is not None:
        found.append(("TOKENIZER", False))
    return found


OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def launch_environment(plan: Plan) -> list[tuple[list[str], dict[str, str]]]:
    """What launch.sh exports, in groups with the comment lines that say why.

    The one home of the run's environment: launch.sh prints it, `ftspec run` executes launch.sh, and
    gives eval.py and chat.py the same variables.
    """
    groups = []
    if plan.offline:
        groups.append((["Everything this run reads is local: keep the hub client from retrying the network."], OFFLINE))
    if plan.hardware.accelerator == "cpu":
        groups.append(
            (
                ["CPU processes join one process group only when Accelerate is told to use the CPU."],
                {"ACCELERATE_USE_CPU": "true"},
            )
        )
    if plan.launcher.elastic:
        why = [
            "A fresh store for every round of the rendezvous: the shared one keeps the addresses of the",
            "workers that were lost, and the restarted group would try to reach them.",
        ]
        if plan.hardware.nodes > 1:
            why += [
                "The machines meet through torchrun's c10d rendezvous, which also re-forms the group when one is",
                "lost; --rdzv_backend is passed below, as Accelerate reads no rdzv_backend from its config file (its",
                "command line's default, static, would reuse one store). Machine 0 hosts it, whichever starts first.",
            ]
        groups.append((why, {"TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1"}))
    return groups


def counted_name(plan: Plan) -> str:
    """What a training log line's loss is taken over: pairs or answers (preference), tokens or examples."""
    if plan.objective is not None:
        return "answers" if plan.objective.layout == "unpaired" else "pairs"
    return "examples" if plan.data.format == "classification" else "loss_tokens"


def prompt_layout(plan: Plan) -> dict[str, bool]:
    """Where a question comes from and how it is written: preference rows are read like instruction
    rows (a prompt column) or like chat rows (conversations)."""
    fmt, objective = plan.data.format, plan.objective
    conversations = fmt == "chat" or (objective is not None and objective.layout == "conversations")
    prompt_column = fmt == "instruction" or (objective is not None and not conversations)
    return {
        "prompt_column": prompt_column,
        "conversations": conversations,
        # The prompt is filled into TEMPLATE, or written as a user turn of the chat template.
        "template_prompt": prompt_column and not plan.data.chat_turns,
        "chat_prompt": conversations or plan.data.chat_turns,
    }


def view(plan: Plan, out_dir: Path | None = None) -> dict:
    """Everything the templates need beyond the plan itself, computed once."""
    classifier = plan.data.format == "classification"
    objective = plan.objective
    mixture = mixture_view(plan, out_dir)
    layout = prompt_layout(plan)
    return {
        "mixture": mixture,
        "data_described": mixture["described"] if mixture else f"{plan.data.format} data",
        "causal": not classifier,
        # A mixture is measured by held-out loss per source: no answers scored against one format's references.
        "generative": plan.data.format in ("instruction", "chat") and mixture is None,
        "auto_model": "AutoModelForSequenceClassification" if classifier else "AutoModelForCausalLM",
        "peft_task": "SEQ_CLS" if classifier else "CAUSAL_LM",
        "mixed_precision": ACCELERATE.get(plan.hardware.precision),
        # A classifier's new head (and BERT's pooler) stay unquantized: they train in full precision.
        "unquantized": ["classifier", "score", "pooler"] if classifier else None,
        # The model card's share of the training rows held out, in percent.
        "held_out_percent": None if plan.data.eval_split is None else round(plan.data.eval_split * 100, 2),
        "launch_environment": launch_environment(plan),
        # The processes on each machine, among which launch.sh shares a CPU machine's cores.
        "cpu_processes": max(1, plan.hardware.processes // plan.hardware.nodes),
        "train_inputs": local_inputs(plan, "train"),
        "eval_inputs": local_inputs(plan, "eval"),
        # What eval.py evaluates: the adapter, or the whole model.
        # eval.py's base, read only for the comparison: checked while COMPARE_BASE says so.
        "compared_base_is_local": plan.base.source in ("local", "spec") and plan.strategy.saves != "adapter",
        "trained_dir": "ADAPTER_DIR" if plan.strategy.saves == "adapter" else "MODEL_DIR",
        # Packing joins examples; a classifier's example has one label, a preference answer is scored whole.
        "packs": plan.data.format not in ("classification", "preference"),
        # A frozen reference copy is passed along to every function that scores with it.
        "reference_arg": ", reference" if objective is not None and objective.reference == "copy" else "",
        "reference_copy": objective is not None and objective.reference == "copy",
        "counted": counted_name(plan),
        # What one training step's loss is a mean over, in the scripts' comments.
        "unit": {"pairs": "pair", "answers": "answer", "loss_tokens": "token", "examples": "example"}[
            counted_name(plan)
        ],
        # How eval.py and chat.py write a question as the model reads it.
        **layout,
        # eval.py fills a prompt into an instruction template (a mixture: its instruction sources' templates).
        "fills_prompt_template": layout["prompt_column"] or "instruction" in (mixture or {}).get("formats", ()),
        # The held-out loss of a causal model is a perplexity; a preference loss is not.
        "perplexity": not classifier and objective is None,
    }
