"""Decide the strategy's concrete configuration: PEFT arguments, quantization, architecture."""

from __future__ import annotations

from ..inputs.modelinfo import scratch_config
from ..spec.schema import PEFT_KINDS, Percent
from .plan import Plan, StrategyPlan

PEFT_CLASSES = {
    "lora": "LoraConfig",
    "qlora": "LoraConfig",
    "adalora": "AdaLoraConfig",
    "ia3": "IA3Config",
    "loha": "LoHaConfig",
    "lokr": "LoKrConfig",
}


def _targets(targets):
    """peft spells the "every linear layer" shortcut `all-linear`."""
    if targets is None:
        return None
    return "all-linear" if targets == "all_linear" else list(targets)


def _steps(value) -> dict:
    return {"fraction": value.fraction} if isinstance(value, Percent) else {"steps": value}


def peft_arguments(strategy) -> dict:
    """The keyword arguments of the peft config class, named as peft names them."""
    kind = strategy.kind
    common = {"target_modules": _targets(strategy.targets), "modules_to_save": list(strategy.modules_to_save) or None}
    if kind in ("lora", "qlora"):
        return common | {
            "r": strategy.rank,
            "lora_alpha": strategy.alpha,
            "lora_dropout": strategy.dropout,
            "use_dora": strategy.dora,
            "use_rslora": strategy.rslora,
            "bias": strategy.bias,
        }
    if kind == "adalora":
        return common | {
            "init_r": strategy.init_rank,
            "target_r": strategy.target_rank,
            "lora_alpha": strategy.alpha,
            "lora_dropout": strategy.dropout,
            "deltaT": strategy.interval,
            "orth_reg_weight": strategy.orth_reg_weight,
        }
    if kind == "ia3":
        return common | {"feedforward_modules": list(strategy.feedforward) if strategy.feedforward else None}
    if kind == "loha":
        return common | {
            "r": strategy.rank,
            "alpha": strategy.alpha,
            "rank_dropout": strategy.rank_dropout,
            "module_dropout": strategy.module_dropout,
        }
    if kind == "lokr":
        return common | {
            "r": strategy.rank,
            "alpha": strategy.alpha,
            "rank_dropout": strategy.rank_dropout,
            "module_dropout": strategy.module_dropout,
            "decompose_both": strategy.decompose_both,
            "decompose_factor": strategy.decompose_factor,
        }
    raise ValueError(f"not a PEFT strategy: {kind}")


def decide_strategy(plan: Plan) -> Plan:
    """What trains and what is saved.

    >>> from ftspec.planner.testing import plan_until
    >>> s = plan_until('strategy lora { rank = 4\\n targets = [q_proj] }', decide_strategy).strategy
    >>> s.saves, s.peft["r"], s.peft["target_modules"]
    ('adapter', 4, ['q_proj'])
    >>> plan_until('strategy scratch { hidden_size = 64 }', decide_strategy).strategy.architecture["intermediate_size"]
    256
    """
    spec = plan.spec
    strategy = spec.strategy
    kind = strategy.kind
    peft = peft_arguments(strategy) if kind in PEFT_KINDS else None
    quantization = None
    if kind == "qlora":
        quantization = {
            "bits": strategy.bits,
            "quant_type": strategy.quant_type,
            "double_quant": strategy.double_quant,
            "compute_dtype": strategy.compute_dtype,
        }
    decided = StrategyPlan(
        kind=kind,
        saves="adapter" if kind in PEFT_KINDS else "model",
        peft_class=PEFT_CLASSES.get(kind),
        peft=peft,
        adalora_schedule={"tinit": _steps(strategy.warmup), "tfinal": _steps(strategy.final)}
        if kind == "adalora"
        else None,
        quantization=quantization,
        architecture=scratch_config(strategy, spec.data.max_length) if kind == "scratch" else None,
        freeze=tuple(strategy.freeze) if kind == "full" else (),
        freeze_layers=strategy.freeze_layers if kind == "full" else 0,
        merge=spec.output.merge,
    )
    if kind == "qlora" and spec.output.merge:
        plan = plan.note("merge: the adapter is merged into the full-precision base, not the quantized one")
    return plan.with_(strategy=decided)
