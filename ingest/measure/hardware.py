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
    driver: str | None = None  # driver version as nvidia-smi prints it, e.g. "580.159.04"


def nvidia_smi_gpus(timeout_s: float = 10.0) -> list[Gpu]:
    """The GPUs nvidia-smi lists on this machine; [] when there is no nvidia-smi or it fails."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=timeout_s, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_nvidia_smi(out)


def parse_nvidia_smi(out: str) -> list[Gpu]:
    """Lines of `name, memory.total, driver_version` (a name may itself hold commas: the last two fields are split
    off from the right)."""
    gpus = []
    for line in out.splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.rsplit(",", 2)]
        name, memory, driver = (parts + ["", ""])[:3] if len(parts) < 3 else parts
        gpus.append(Gpu(name, int(memory) if memory.isdigit() else None, driver or None))
    return gpus


@dataclass(frozen=True)
class CopyBandwidth:
    gbps: float  # bytes read + bytes written per second / 1e9, the median of the timed copies
    note: str


def measure_copy_bandwidth(device: str, size_bytes: int, repeats: int = 20) -> CopyBandwidth:
    """Memory bandwidth as a device-to-device copy moves it (STREAM's "copy" convention: every byte is read once
    and written once, so 2 x size per copy), the median of `repeats` timed copies after two untimed ones. On a GPU
    the copies are timed with CUDA events; on a CPU with perf_counter."""
    import statistics
    import time

    import torch

    src = torch.empty(size_bytes, dtype=torch.uint8, device=device)
    src.fill_(1)
    dst = torch.empty_like(src)
    cuda = device.startswith("cuda")
    for _ in range(2):
        dst.copy_(src)
    seconds = []
    for _ in range(repeats):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            dst.copy_(src)
            end.record()
            end.synchronize()
            seconds.append(start.elapsed_time(end) / 1000)
        else:
            began = time.perf_counter()
            dst.copy_(src)
            seconds.append(time.perf_counter() - began)
    del src, dst
    median_s = statistics.median(seconds)
    gbps = 2 * size_bytes / median_s / 1e9
    return CopyBandwidth(gbps, f"device-to-device copy of {size_bytes / 2**20:,.0f} MiB, median of {repeats} copies "
                               f"({median_s * 1000:,.3f} ms), bytes read + written: {gbps:,.0f} GB/s")


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
