"""Decide what starts the processes (launch.sh alone, SLURM, Kubernetes, SkyPilot) and whether restarts are elastic."""

from __future__ import annotations

from ..diagnostics import Diagnostic, Severity
from .plan import LauncherPlan, Plan

FILES = {
    "none": (),
    "slurm": ("slurm.sh",),
    "kubernetes": ("trainjob.yaml", "pytorchjob.yaml"),
    "skypilot": ("skypilot.yaml",),
}
# SkyPilot's accelerator names for the shipped GPU profiles.
SKYPILOT_GPUS = {
    "h200": "H200",
    "h100": "H100",
    "a100": "A100-80GB",
    "a100_40gb": "A100",
    "l40s": "L40S",
    "a10g": "A10G",
    "l4": "L4",
    "rtx4090": "RTX4090",
    "rtx3090": "RTX3090",
    "t4": "T4",
    "v100": "V100",
}
PORT = 29500
MOUNT = "/workspace"
# Documented placeholders, filled in with `envsubst` when the spec does not name them.
IMAGE, VOLUME = "${IMAGE}", "${VOLUME}"


def decide_launcher(plan: Plan) -> Plan:
    """The launcher's files and settings; `auto` is SLURM for several machines, else launch.sh alone.

    >>> from ftspec.planner.testing import plan_until
    >>> spec = 'hardware { nodes = 2\\n gpus = 8\\n gpu = h100\\n launcher = skypilot }'
    >>> l = plan_until(spec, decide_launcher).launcher
    >>> l.files, l.accelerator, l.image, l.elastic
    (('skypilot.yaml',), 'H100:8', '${IMAGE}', False)
    >>> plan_until('hardware { nodes = 2 }', decide_launcher, target="cpu").launcher.kind
    'slurm'
    >>> plan_until('hardware { max_restarts = 3 }', decide_launcher, target="cpu").launcher.elastic
    True
    """
    spec, hardware = plan.spec.hardware, plan.hardware
    kind = spec.launcher if spec.launcher != "auto" else ("slurm" if hardware.nodes > 1 else "none")
    gpus = hardware.devices_per_node if hardware.accelerator == "cuda" else 0
    accelerator = None
    if kind == "skypilot" and hardware.accelerator != "cpu":
        card = SKYPILOT_GPUS.get(hardware.target)
        if card is None:
            return plan.diagnose(
                Diagnostic(
                    "FT406",
                    f"`launcher = skypilot` needs the GPU model, and the target is {hardware.target!r}",
                    plan.inputs.sources.at("hardware", "launcher"),
                    "name the card in the hardware block (`gpu = h100`), or compile with `--target h100`",
                )
            )
        accelerator = f"{card}:{gpus}"
    decided = LauncherPlan(
        kind=kind,
        files=FILES[kind],
        # c10d re-forms the group after a failure; the static rendezvous cannot.
        elastic=spec.max_restarts > 0,
        max_restarts=spec.max_restarts,
        port=PORT,
        image=spec.image or IMAGE,
        volume=spec.volume or VOLUME,
        mount=MOUNT,
        accelerator=accelerator,
        gpus_per_node=gpus,
    )
    plan = plan.with_(launcher=decided)
    output, train = plan.spec.output, plan.spec.train
    if decided.elastic and output.save_every is None and train.epochs == 1:
        # Checkpoints fall at epoch ends only, and a one-epoch run has none before it is over.
        plan = plan.diagnose(
            Diagnostic(
                "FT407",
                f"`max_restarts = {spec.max_restarts}`, but nothing is checkpointed before the end: a restarted group"
                " trains from the first step again",
                plan.inputs.sources.at("hardware", "max_restarts"),
                "set `output.save_every` to the optimizer steps between checkpoints",
                Severity.WARNING,
            )
        )
    return plan
