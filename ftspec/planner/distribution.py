"""Decide how many processes run and how work is spread over them."""

from __future__ import annotations

from ..inputs.hardware import GIB
from .plan import HardwarePlan, Plan


def decide_distribution(plan: Plan) -> Plan:
    """Processes and the distribution strategy for the target hardware.

    >>> from ftspec.planner.testing import plan_until
    >>> h = plan_until('hardware { gpus = 8 }', decide_distribution, target="h100").hardware
    >>> h.processes, h.distributed
    (8, 'ddp')
    >>> plan_until('', decide_distribution, target="cpu").hardware.distributed
    'none'
    >>> h = plan_until('hardware { processes = 2 }', decide_distribution, target="cpu").hardware
    >>> h.processes, h.distributed
    (2, 'ddp')
    """
    profile = plan.inputs.hardware
    wanted = plan.spec.hardware.distributed
    if profile.accelerator == "cuda":
        processes = profile.processes
    else:  # CPU processes share the machine's cores; one unless the spec asks for more
        processes = profile.nodes * (plan.spec.hardware.processes or 1)
    distributed = wanted if wanted != "auto" else ("ddp" if processes > 1 else "none")
    if processes == 1 and distributed != "none" and plan.spec.hardware.offload == "none":
        plan = plan.note(f"distributed = {distributed} with one process: it runs as a single process")
        distributed = "none"
    decided = HardwarePlan(
        target=profile.name,
        accelerator=profile.accelerator,
        nodes=profile.nodes,
        devices_per_node=profile.devices_per_node,
        processes=processes,
        device_memory_gib=round(profile.device_memory / GIB, 2) if profile.device_memory else None,
        precision="auto",
        distributed=distributed,
    )
    return plan.with_(hardware=decided)
