"""Preference rows (`format = preference`): the columns an objective reads, and what makes a row useless.

FT630  chosen and rejected are the same: the pair says nothing about which answer is better
FT631  conversations that are not two conversations sharing a prompt and ending in different assistant answers
FT633  a KTO row whose label is not true or false (desirable or not)
Empty answers are FT607 and answers cut away by `max_length` FT621, as for every other format.
"""

from __future__ import annotations

from typing import Any

from ..planner.plan import Plan

CONVERSATION_HELP = (
    "give chosen and rejected the same turns up to a last `assistant` message, and differing last answers"
)


def _text(value: Any) -> str:
    return "" if value is None or not isinstance(value, (str, int, float)) else str(value)


def needs(plan: Plan) -> list[tuple[str, str, bool]]:
    """(column, `data` setting naming it, whether an empty value is a fault) for each column the objective reads."""
    objective = plan.objective
    prompt = [(plan.data.prompt_column, "prompt", True)] if plan.data.prompt_column else []
    if objective is None:
        return prompt
    if objective.layout == "unpaired":
        return [*prompt, (objective.completion_column, "completion", True), (objective.label_column, "label", True)]
    return [*prompt, (objective.chosen_column, "chosen", True), (objective.rejected_column, "rejected", True)]


def _is_turns(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in value
    )


def _conversation_fault(chosen: Any, rejected: Any, names: tuple[str, str]) -> tuple[str, str, str] | None:
    for value, name in zip((chosen, rejected), names, strict=True):
        if not _is_turns(value) or not value:
            return "FT631", f"`{name}` is not a list of role/content messages", CONVERSATION_HELP
        if value[-1]["role"] != "assistant":
            return "FT631", f"the last message of `{name}` is not the assistant's answer", CONVERSATION_HELP
    if chosen[:-1] != rejected[:-1]:
        return "FT631", "chosen and rejected do not share their turns before the last answer", CONVERSATION_HELP
    if not chosen[-1]["content"].strip() or not rejected[-1]["content"].strip():
        return "FT631", "the last answer of chosen or rejected is empty", "fill in both answers, or remove the row"
    if chosen[-1]["content"].strip() == rejected[-1]["content"].strip():
        return "FT630", "chosen and rejected end in the same answer: the pair prefers nothing", _SAME_HELP
    return None


_SAME_HELP = "make the rejected answer the worse one, or remove the row"


def row_fault(plan: Plan, values: dict[str, Any]) -> tuple[str, str, str, str] | None:
    """(code, message, help, column to point at) for a preference row that cannot train, or None."""
    objective = plan.objective
    if objective is None:
        return None
    if objective.layout == "unpaired":
        label = values.get(objective.label_column)
        if label is not None and not isinstance(label, bool) and _text(label).lower() not in ("true", "false"):
            message = f"the label in `{objective.label_column}` is `{_text(label) or label}`, not true or false"
            help = "write true for a desirable answer, false for an undesirable one"
            return "FT633", message, help, objective.label_column
        return None
    chosen, rejected = values.get(objective.chosen_column), values.get(objective.rejected_column)
    if chosen is None or rejected is None:
        return None  # missing or empty: FT605 and FT607
    if objective.layout == "conversations":
        found = _conversation_fault(chosen, rejected, (objective.chosen_column, objective.rejected_column))
        return (*found, objective.rejected_column) if found else None
    if not isinstance(chosen, str) or not isinstance(rejected, str):
        return (
            "FT631",
            "chosen and rejected must be text when `data.prompt` names the prompt",
            "write both answers as strings, or leave out `prompt` for conversations",
            objective.chosen_column if not isinstance(chosen, str) else objective.rejected_column,
        )
    if chosen.strip() and chosen.strip() == rejected.strip():
        message = "chosen and rejected are the same answer: the pair prefers nothing"
        return "FT630", message, _SAME_HELP, objective.rejected_column
    return None


def prompt_and_answer(plan: Plan, values: dict[str, Any]) -> tuple[str, str]:
    """The prompt as the model reads it, and the longer of the answers (chosen, rejected or the completion)."""
    objective, data = plan.objective, plan.data
    if objective is None:
        return "", ""
    columns = (
        (objective.completion_column,)
        if objective.layout == "unpaired"
        else (objective.chosen_column, objective.rejected_column)
    )
    answers = [values.get(column) for column in columns]
    if objective.layout == "conversations":
        turns = answers[0] if _is_turns(answers[0]) else []
        prompt = "\n".join(m["content"] for m in turns[:-1])
        texts = [a[-1]["content"] if _is_turns(a) and a else "" for a in answers]
        return prompt, max(texts, key=len)
    cells = {key: _text(value) for key, value in values.items()}
    try:
        prompt = (data.template or "").format_map(cells)
    except (ValueError, KeyError, IndexError, AttributeError):
        prompt = ""
    return prompt, max((_text(a) for a in answers), key=len)
