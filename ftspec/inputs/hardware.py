"""Hardware profiles: shipped cards, the spec's `hardware` block, and detection at run time.

Detection shells out to `nvidia-smi` and reads /proc: the compiler never imports torch.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from dataclasses import dataclass, replace

from ..figures import plural

GIB = 2**30


@dataclass(frozen=True)
class HardwareProfile:
    """What a plan targets. ``bf16`` is None when it is only known at launch."""

    name: str
    accelerator: str  # "cuda", "cpu", or "any" (decided at launch)
    devices_per_node: int
    nodes: int = 1
    device_memory: int | None = None  # bytes per device
    bf16: bool | None = None
    fp16: bool | None = None
    peak_tflops: float | None = None  # dense bf16 (fp16 on cards without bf16; fp32 on CPU)
    host_memory: int | None = None  # bytes of each machine's own memory, where offload moves state
    installed: frozenset[str] | None = None  # optional kernel packages present (None: not known)

    @property
    def processes(self) -> int:
        return self.devices_per_node * self.nodes


# Shipped profiles: memory and dense tensor-core peak from the vendors' data sheets.
PROFILES: dict[str, HardwareProfile] = {
    "h200": HardwareProfile("h200", "cuda", 1, 1, 141 * 10**9, True, True, 989.0),
    "h100": HardwareProfile("h100", "cuda", 1, 1, 80 * GIB, True, True, 989.0),
    "a100": HardwareProfile("a100", "cuda", 1, 1, 80 * GIB, True, True, 312.0),
    "a100_40gb": HardwareProfile("a100_40gb", "cuda", 1, 1, 40 * GIB, True, True, 312.0),
    "l40s": HardwareProfile("l40s", "cuda", 1, 1, 48 * GIB, True, True, 362.0),
    "a10g": HardwareProfile("a10g", "cuda", 1, 1, 24 * GIB, True, True, 125.0),
    "l4": HardwareProfile("l4", "cuda", 1, 1, 24 * GIB, True, True, 121.0),
    "rtx4090": HardwareProfile("rtx4090", "cuda", 1, 1, 24 * GIB, True, True, 165.0),
    "rtx3090": HardwareProfile("rtx3090", "cuda", 1, 1, 24 * GIB, True, True, 71.0),
    "t4": HardwareProfile("t4", "cuda", 1, 1, 16 * GIB, False, True, 65.0),
    "v100": HardwareProfile("v100", "cuda", 1, 1, 32 * GIB, False, True, 125.0),
    "cpu": HardwareProfile("cpu", "cpu", 1, 1, None, False, False, None),
}
UNKNOWN = HardwareProfile("launch", "any", 1, 1, None, None, None, None)


def from_block(hardware, target: str | None = None) -> HardwareProfile:
    """The profile a plan targets: ``--target``, else the spec's `hardware` block, else decided at launch."""
    name = target or hardware.gpu
    profile = PROFILES[name] if name else UNKNOWN
    if hardware.gpu_memory is not None:
        name = profile.name if profile is not UNKNOWN else _named(hardware)
        profile = replace(
            profile,
            name=name,
            accelerator="cuda" if profile.accelerator == "any" else profile.accelerator,
            device_memory=hardware.gpu_memory.bytes,
        )
    if isinstance(hardware.gpus, int) and profile.accelerator != "cpu":
        profile = replace(profile, devices_per_node=max(hardware.gpus, 1))
        if hardware.gpus == 0:
            profile = PROFILES["cpu"]
    profile = replace(profile, nodes=hardware.nodes)
    if hardware.host_memory is not None:
        profile = replace(profile, host_memory=hardware.host_memory.bytes)
    if hardware.installed is not None:
        profile = replace(profile, installed=frozenset(hardware.installed))
    return profile


def _named(hardware) -> str:
    """A target known only by its memory, named by its GPUs: `1 GPU with 24 GiB`, `8 GPUs with 80 GiB each`."""
    size = f"{hardware.gpu_memory.gib:g} GiB"
    if not isinstance(hardware.gpus, int) or hardware.gpus < 1:
        return f"a GPU with {size}"
    return f"{plural(hardware.gpus, 'GPU')} with {size}" + (" each" if hardware.gpus > 1 else "")


def _memory_total() -> int | None:
    try:
        for line in open("/proc/meminfo", encoding="utf-8"):
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


KERNEL_PACKAGES = ("flash_attn", "liger_kernel")
# CPU flags of bf16 matrix units (AVX512-BF16, AMX): where bf16 autocast pays (bench/cpu_options.py).
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def _installed() -> frozenset[str]:
    """Kernel packages importable here, found without importing them."""
    return frozenset(name for name in KERNEL_PACKAGES if importlib.util.find_spec(name) is not None)


def cpu_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU has bf16 matrix instructions, from its flags in /proc/cpuinfo."""
    try:
        with open(cpuinfo, encoding="utf-8") as lines:
            for line in lines:
                if line.startswith("flags"):
                    return bool(BF16_FLAGS & set(line.split(":", 1)[-1].split()))
    except OSError:
        return False
    return False


def detect() -> HardwareProfile:
    """The devices visible here: CUDA GPUs through `nvidia-smi`, else this CPU."""
    smi = shutil.which("nvidia-smi")
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if smi and visible != "":
        try:
            out = subprocess.run(
                [smi, "--query-gpu=name,memory.total,compute_cap", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                timeout=20,
                check=True,
            ).stdout
            rows = [[cell.strip() for cell in line.split(",")] for line in out.strip().splitlines() if line.strip()]
        except (OSError, subprocess.SubprocessError):
            rows = []
        if visible:
            wanted = {int(i) for i in visible.split(",") if i.strip().isdigit()}
            rows = [row for i, row in enumerate(rows) if i in wanted] or rows
        if rows:
            name, memory, capability = rows[0][0], int(float(rows[0][1])) * 2**20, float(rows[0][2])
            return HardwareProfile(
                f"detected: {len(rows)} x {name}",
                "cuda",
                len(rows),
                1,
                memory,
                capability >= 8.0,
                capability >= 6.0,
                None,
                _memory_total(),
                _installed(),
            )
    memory = _memory_total()
    return HardwareProfile("detected: cpu", "cpu", 1, 1, memory, cpu_bf16(), False, None, memory, _installed())
