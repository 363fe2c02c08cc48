"""Decide where offloaded model state goes, and check it against the memory of the machines that hold it.

FT250  `hardware.offload` with a distribution that cannot offload that state
FT439  offloaded state that does not fit in the host memory the target states

FSDP offloads parameters, gradients and optimizer state together (`fsdp_offload_params`), so it offers `all` only;
DeepSpeed offloads the optimizer (ZeRO-2 and 3: `offload_optimizer_device: cpu`) and, under ZeRO-3 alone, the
parameters too (`offload_param_device: cpu`). `distributed = auto` with offload picks ZeRO-3 for `all` and ZeRO-2
for `optimizer`, on one GPU too (DeepSpeed runs one process).
"""

from __future__ import annotations

from ..diagnostics import Diagnostic
from ..inputs.hardware import GIB
from .plan import Plan

CAN_OFFLOAD = {"fsdp": ("all",), "zero2": ("optimizer",), "zero3": ("optimizer", "all")}
AUTO = {"all": "zero3", "optimizer": "zero2"}


def decide_offload(plan: Plan) -> Plan:
    """The distribution that carries `hardware.offload`, or FT250 when the spec's cannot.

    >>> from ftspec.planner.testing import plan_until
    >>> h = plan_until('hardware { offload = all }', decide_offload, target="h100").hardware
    >>> h.distributed, h.offload
    ('zero3', 'all')
    """
    offload, wanted = plan.spec.hardware.offload, plan.spec.hardware.distributed
    if offload == "none":
        return plan
    hardware = plan.hardware
    if plan.inputs.hardware.accelerator == "cpu":
        return plan.diagnose(
            Diagnostic(
                "FT250",
                f"`offload = {offload}` on a CPU target: the model state is in host memory already",
                plan.inputs.sources.at("hardware", "offload"),
                "remove `offload`, or plan for GPUs (`gpu = …`)",
            )
        )
    distributed = AUTO[offload] if wanted == "auto" else wanted
    if offload not in CAN_OFFLOAD.get(distributed, ()):
        able = " or ".join(f"`distributed = {name}`" for name, kinds in CAN_OFFLOAD.items() if offload in kinds)
        return plan.diagnose(
            Diagnostic(
                "FT250",
                f"`distributed = {distributed}` cannot offload `{offload}` to host memory"
                + (": FSDP offloads weights, gradients and optimizer state together" if distributed == "fsdp" else ""),
                plan.inputs.sources.at("hardware", "offload"),
                f"`offload = {offload}` needs {able} (or `auto`)",
            )
        )
    if distributed != hardware.distributed:
        plan = plan.note(f"distributed = {distributed}, which offloads `{offload}` to host memory")
    return plan.with_(hardware=hardware.model_copy(update={"distributed": distributed, "offload": offload}))


def check_host_memory(plan: Plan) -> Plan:
    """FT439 when what each machine offloads exceeds its memory (with the same margin as a device's)."""
    memory, host = plan.memory, plan.inputs.hardware.host_memory
    if memory is None or host is None:
        return plan
    limit = round(host / GIB, 2)
    memory = memory.model_copy(update={"host_limit_gib": limit})
    plan = plan.with_(memory=memory)
    if memory.host_gib is None or memory.host_gib <= limit * (1 - memory.margin):
        return plan
    where = "host_memory" if plan.spec.hardware.host_memory is not None else "offload"
    return plan.diagnose(
        Diagnostic(
            "FT439",
            f"the state offloaded to host memory needs ~{memory.host_gib} GiB per machine, but each has {limit} GiB "
            f"({round(limit * (1 - memory.margin), 2)} usable after a {memory.margin:.0%} margin)",
            plan.inputs.sources.at("hardware", where),
            "offload less (`offload = optimizer`), spread it over more machines, or plan for machines with more memory",
        )
    )
