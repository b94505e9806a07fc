"""What a measurement ran on: GPU names as nvidia-smi reports them, engine versions, the CPU as a fallback."""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Gpu:
    name: str  # exactly as nvidia-smi prints it, e.g. "NVIDIA H100 80GB HBM3"
    memory_mib: int | None


def nvidia_smi_gpus(timeout_s: float = 10.0) -> list[Gpu]:
    """The GPUs nvidia-smi lists on this machine; [] when there is no nvidia-smi or it fails."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=timeout_s, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in out.splitlines():
        if not line.strip():
            continue
        name, _, memory = line.rpartition(",")
        if not name:
            name, memory = memory, ""
        memory = memory.strip()
        gpus.append(Gpu(name.strip(), int(memory) if memory.isdigit() else None))
    return gpus


def cpu_model() -> str:
    """The CPU's model name (for notes; the hardware column of a CPU run is just 'CPU')."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def available_ram_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def package_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


_TOKEN_RE = re.compile(r"[A-Za-z0-9]+")


def _tokens(text: str) -> set[str]:
    return {t.upper() for t in _TOKEN_RE.findall(text)}


def match_catalog_gpu(smi_name: str, gpus: list[dict]) -> dict | None:
    """The catalog `gpus` row an nvidia-smi name refers to, or None when it cannot be told apart.

    The product code (H100, H200, A100, L4, MI300X) must appear in the name; a memory size in the name must agree
    with the row's memory_gb; among several, a distinguishing word of the catalog name found in the driver's string
    wins (PCIe and NVL boards carry it; SXM boards usually do not, so a name without one means the SXM board).
    """
    hw = _tokens(smi_name)
    candidates = []
    for gpu in gpus:
        codes = [t for t in _tokens(str(gpu.get("name", ""))) if re.fullmatch(r"[A-Z]+\d+[A-Z]*", t)
                 and not t.endswith("GB")]
        if not codes or codes[0] not in hw:
            continue
        memory = gpu.get("memory_gb")
        if memory is not None and any(t.endswith("GB") for t in hw) and f"{float(memory):g}GB" not in hw:
            continue
        candidates.append(gpu)
    if len(candidates) > 1:
        # A word of the catalog name that the other candidates lack (PCIe, NVL, SXM4) and the driver's name has.
        names = [_tokens(str(g.get("name", ""))) for g in candidates]
        common = set.intersection(*names)
        named = [g for g, n in zip(candidates, names) if (n - common) & hw]
        form = lambda g: str(g.get("form_factor") or "").upper()  # noqa: E731
        candidates = (named or [g for g in candidates if form(g) == "SXM"]
                      or [g for g in candidates if form(g) == ""])
    return candidates[0] if len(candidates) == 1 else None
