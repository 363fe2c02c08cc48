"""A plan as a short table for the terminal (`ftspec plan`)."""

from __future__ import annotations

from ..figures import count, duration, plural


def _base(plan: dict) -> str:
    base = plan["base"]
    if base["source"] == "none":
        return "none: a new model with random weights"
    if base["source"] == "hub":
        return f"{base['model']} (hub, revision {base['revision']})"
    if base["source"] == "package":
        return f"{base['model']} (a directory of an installed Python package)"
    if base["source"] == "spec":
        return f"the model of spec {base['spec']} ({base['path']})"
    return f"{base['path']} (local)"


def _strategy(plan: dict) -> str:
    strategy = plan["strategy"]
    text = strategy["kind"]
    if strategy["peft"]:
        shown = {k: v for k, v in strategy["peft"].items() if v not in (None, False, [])}
        text += f" ({strategy['peft_class']}: " + ", ".join(f"{k}={v}" for k, v in shown.items()) + ")"
    if strategy["architecture"]:
        arch = strategy["architecture"]
        text += (
            f" ({arch['model_type']}: hidden {arch['hidden_size']}, {arch['num_hidden_layers']} layers, "
            f"{arch['num_attention_heads']} heads, context {arch['max_position_embeddings']})"
        )
    if strategy["quantization"]:
        q = strategy["quantization"]
        text += f"; base in {q['bits']}-bit" + (f" {q['quant_type']}" if q["bits"] == 4 else "")
    return text


def _mixture(plan: dict) -> str:
    """Each source of a mixture: its share, format, files and what an epoch draws of its sequences."""
    parts = []
    for source in plan["mixture"]["sources"]:
        data = source["data"]
        drawn = source["drawn_per_epoch"]
        each = f", {drawn:,} of its {source['sequences']:,} sequences an epoch" if drawn is not None else ""
        parts.append(f"{source['name']} {source['share']:.0%} ({data['format']} from {', '.join(data['train'])}{each})")
    packed = ", packed" if plan["data"]["packing"] else ""
    return "mixture of " + "; ".join(parts) + f"; {plan['data']['max_length']} tokens{packed}"


def _data(plan: dict) -> str:
    if "mixture" in plan:
        return _mixture(plan)
    data = plan["data"]
    source = data["hub"] or ", ".join(data["train"])
    held = ", ".join(data["eval"]) if data["eval"] else f"{data['eval_split']:.0%} of the rows"
    packed = ", packed" if data["packing"] else ""
    return f"{data['format']} from {source}; held out: {held}; {data['max_length']} tokens{packed}"


def _training(plan: dict) -> str:
    train = plan["train"]
    length = plural(train["max_steps"], "step") if train["max_steps"] else plural(train["epochs"], "epoch")
    warmup = (
        f"{train['warmup_ratio']:.0%} warm-up"
        if train["warmup_ratio"] is not None
        else f"{train['warmup_steps']} warm-up steps"
    )
    return (
        f"{length}, {train['optimizer']} at {train['learning_rate']:g} ({train['scheduler']}, {warmup}); "
        f"batch {train['effective_batch_size']} = {train['micro_batch_size']} x {train['grad_accum']} accumulated"
        f" x {plural(plan['hardware']['processes'], 'process')}"
    )


def _hardware(plan: dict) -> str:
    hw = plan["hardware"]
    memory = f", {hw['device_memory_gib']:g} GiB each" if hw["device_memory_gib"] else ""
    launcher = plan["launcher"]
    started = f"; launcher {launcher['kind']}" if launcher["kind"] != "none" else ""
    elastic = f", {plural(launcher['max_restarts'], 'restart')} (elastic)" if launcher["elastic"] else ""
    return (
        f"{hw['target']}: {plural(hw['nodes'], 'node')} x {plural(hw['devices_per_node'], 'device')}{memory}; "
        f"precision {hw['precision']}; distributed {hw['distributed']}{started}{elastic}"
    )


def _maybe(value: int | None) -> str:
    return "?" if value is None else count(value)


def _memory(plan: dict) -> str:
    memory = plan["memory"]
    if memory is None or memory["per_device_gib"] is None:
        return "not estimated (the base model's dimensions are not known here)"
    parts = ", ".join(f"{name} {value:g}" for name, value in memory["components_gib"].items() if value)
    limit = "no limit known for the target"
    if memory["limit_gib"] is not None:
        verdict = "fits" if memory["fits"] else "DOES NOT FIT"
        usable, whole = memory["usable_gib"], memory["limit_gib"]
        limit = f"{verdict} in {usable:g} of {whole:g} GiB ({memory['margin']:.0%} kept free)"
    return f"~{memory['per_device_gib']:g} GiB per device ({parts}); {limit}; dimensions from {memory['source']}"


def _size(plan: dict) -> str:
    memory, estimates = plan["memory"] or {}, plan["estimates"]
    params = f"{_maybe(memory.get('trainable_params'))} of {_maybe(memory.get('total_params'))} parameters trained"
    tokens = f"~{count(estimates['tokens_per_epoch'])} tokens/epoch" if estimates["tokens_per_epoch"] else ""
    steps = f"~{plural(estimates['optimizer_steps'], 'optimizer step')}" if estimates["optimizer_steps"] else ""
    time = ""
    if estimates["duration_hours"] is not None:
        time = f"{duration(estimates['duration_hours'])} at {estimates['utilisation']:.0%} of peak FLOP/s"
    return "; ".join(part for part in (params, tokens, steps, time) if part)


def _cost(cost: dict) -> str:
    """GPU-hours, and the money at --price: `~3.2 GPU-hours x 0.8 per GPU-hour = 2.56`."""
    if cost["gpu_hours"] is None:
        return cost["note"]
    hours = cost["gpu_hours"]
    text = f"~{hours:,.1f} GPU-hours" if hours >= 1 else f"~{hours:.2g} GPU-hours ({duration(hours)} of one GPU)"
    if cost["total"] is None:
        return f"{text}; {cost['note']}"
    return f"{text} x {cost['price_per_gpu_hour']:g} per GPU-hour = {cost['total']:,.2f}"


def plan_table(plan: dict) -> str:
    """The decisions of a plan (paths relative to the working directory), one per line."""
    rows = [
        ("base", _base(plan)),
        (
            "tokenizer",
            plan["tokenizer"]["source"]
            + (f", vocabulary {plan['tokenizer']['vocab_size']}" if plan["tokenizer"]["vocab_size"] else ""),
        ),
        ("strategy", _strategy(plan)),
        ("data", _data(plan)),
        ("training", _training(plan)),
        ("hardware", _hardware(plan)),
        ("memory", _memory(plan)),
        ("size", _size(plan)),
        *([("cost", _cost(plan["cost"]))] if plan.get("cost") else []),
        (
            "evaluation",
            ", ".join(plan["eval"]["metrics"]) + ("; against the base" if plan["eval"]["compare_base"] else ""),
        ),
        ("output", plan["output"]["dir"]),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"plan for {plan['name']} (spec sha256 {plan['spec_hash'][:16]})"]
    lines += [f"  {name:<{width}}  {value}" for name, value in rows]
    lines += [f"  note: {note}" for note in plan["notes"]]
    return "\n".join(lines)
