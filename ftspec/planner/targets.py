"""Check the adapter's target modules against the module names the base really has.

FT804  a target that matches no module of the base
FT805  a target that matches the modules of only some of the base's layers

The names come from the base's safetensors weights (the index, or a file's header), so they are the model's
own, not the ones its family usually has. peft matches a target by a module's full name or its last parts.
"""

from __future__ import annotations

import re

from ..diagnostics import Diagnostic, Severity
from ..figures import plural
from .plan import Plan

LAYER = re.compile(r"\.(\d+)\.")
NORMS = ("norm", "ln_", "layernorm")


def modules(names) -> dict[str, int | None]:
    """Every module with a weight, and the layer it belongs to (None outside the layer stack)."""
    found = {}
    for name in names:
        if not name.endswith(".weight"):
            continue
        module = name[: -len(".weight")]
        layer = LAYER.search(module)
        found[module] = int(layer.group(1)) if layer else None
    return found


def matches(target: str, module: str) -> bool:
    return module == target or module.endswith("." + target)


def _layer_modules(found: dict[str, int | None], files, layer_wanted: int | None) -> list[str]:
    """The short names of one layer's weight-bearing modules other than norms (2-D weights where known)."""
    names = []
    for module, layer in found.items():
        short = module.rsplit(".", 1)[-1]
        tensor = files.tensors.get(module + ".weight")
        if layer != layer_wanted or any(n in short.lower() for n in NORMS) or (tensor and len(tensor.shape) != 2):
            continue
        names.append(short)
    return list(dict.fromkeys(names))


def _spread(layers: list[int]) -> str:
    shown = ", ".join(map(str, layers[:8])) + (", …" if len(layers) > 8 else "")
    return f"layer{'s' * (len(layers) > 1)} {shown}"


def check_targets(plan: Plan) -> Plan:
    """FT804/FT805 for a PEFT strategy with a list of targets, when the base's weight names are on disk."""
    files, peft = plan.inputs.base_files, plan.strategy.peft
    targets = (peft or {}).get("target_modules")
    if files is None or not files.weight_names or not isinstance(targets, list):
        return plan
    found = modules(files.weight_names)
    layers = sorted({layer for layer in found.values() if layer is not None})
    span = plan.inputs.sources.at("strategy", "targets")
    for target in targets:
        hit = [m for m in found if matches(target, m)]
        hit_layers = sorted({found[m] for m in hit if found[m] is not None})
        missed = [layer for layer in layers if layer not in hit_layers]
        real = _layer_modules(found, files, missed[0] if missed else None)
        listed = ", ".join(f"`{name}`" for name in real[:12]) + (", …" if len(real) > 12 else "")
        if not hit:
            plan = plan.diagnose(
                Diagnostic(
                    "FT804",
                    f"target `{target}` matches no module of the base",
                    span,
                    f"each of its {plural(len(layers), 'layer')} has {listed}; write `targets` from these, "
                    "or `targets = all_linear`",
                )
            )
        elif layers and hit_layers and len(hit_layers) < len(layers):
            plan = plan.diagnose(
                Diagnostic(
                    "FT805",
                    f"target `{target}` matches modules in {len(hit_layers)} of the base's {len(layers)} layers "
                    f"({_spread(hit_layers)}): the others get no adapter",
                    span,
                    f"{_spread(missed)} {'have' if len(missed) > 1 else 'has'} {listed}; add the names they use "
                    "to `targets`, or `targets = all_linear`",
                    Severity.WARNING,
                )
            )
    return plan
