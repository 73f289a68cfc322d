"""The peak FLOP/s an MFU figure divides by: a table for GPUs, cores × clock × FLOPs/cycle for CPUs.

Only torch and the standard library: bench/throughput.py imports this on bare GPU machines.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import torch

# Dense (no sparsity) tensor-core TFLOP/s: (BF16, TF32), matched on the CUDA device name in this
# order. Vendor datasheets quote sparse figures; dense is half of them.
GPU_PEAK_TFLOPS: list[tuple[str, float, float]] = [
    # NVIDIA H200 datasheet: 1,979 BF16 / 989 TF32 with sparsity; same compute as H100 SXM.
    ("H200 NVL", 835.0, 417.5),  # H200 NVL: 1,671 / 835 with sparsity
    ("H200", 989.0, 494.5),
    # NVIDIA H100 datasheet: PCIe 1,513 / 756 sparse, NVL 1,671 / 835 sparse, SXM as H200.
    ("H100 PCIe", 756.0, 378.0),
    ("H100 NVL", 835.0, 417.5),
    ("H100", 989.0, 494.5),
    # NVIDIA A100 datasheet: 312 BF16 / 156 TF32 dense (40 GB and 80 GB alike).
    ("A100", 312.0, 156.0),
    # NVIDIA L40S / L40 datasheets: 733 / 366 and 362 / 181 with sparsity (before "L4").
    ("L40S", 362.0, 183.0),
    ("L40", 181.0, 90.5),
    # NVIDIA L4 datasheet: 242 BF16 / 120 TF32 with sparsity.
    ("L4", 121.0, 60.0),
    # NVIDIA publishes no A10G sheet (the AWS part of the GA102 A10); the A10 datasheet's
    # 250 BF16 / 125 TF32 sparse is used for both, so A10G figures are approximate.
    ("A10", 125.0, 62.5),
    # Ada Lovelace whitepaper (RTX 4090): 165.2 BF16/FP16 with FP32 accumulate, 82.6 TF32, dense.
    ("4090", 165.2, 82.6),
]


def peak_flops(device: str, precision: str) -> tuple[float | None, str]:
    """(peak FLOP/s or None when unknown, where the figure comes from)."""
    if device == "cuda":
        return gpu_peak(torch.cuda.get_device_name(), precision)
    return cpu_peak()


def gpu_peak(name: str, precision: str) -> tuple[float | None, str]:
    for key, bf16, tf32 in GPU_PEAK_TFLOPS:
        if key in name:
            tflops = bf16 if precision == "bf16" else tf32
            kind = "BF16" if precision == "bf16" else "TF32"
            return tflops * 1e12, f"{name}: {tflops:g} TFLOP/s dense {kind}, vendor table"
    return None, f"{name}: not in the table (give --peak-tflops)"


def cpu_peak() -> tuple[float, str]:
    """Cores torch uses × max clock × fp32 FLOPs per cycle per core.

    FLOPs/cycle assumes two FMA units per core, each an FMA (2 FLOPs) on every fp32 lane:
    AVX-512 2 × 16 × 2 = 64, AVX2 2 × 8 × 2 = 32, SSE 2 × 4 × 2 = 16. Cores whose AVX-512 is
    double-pumped 256-bit (AMD Zen 4) or that have one AVX-512 FMA unit reach half of 64."""
    cores = min(torch.get_num_threads(), len(os.sched_getaffinity(0)))
    mhz, clock = _max_mhz()
    flags = _cpu_flags()
    if "avx512f" in flags:
        per_cycle, isa = 64, "AVX-512"
    elif "avx2" in flags and "fma" in flags:
        per_cycle, isa = 32, "AVX2+FMA"
    else:
        per_cycle, isa = 16, "SSE"
    source = f"{cores} cores × {mhz / 1000:.2f} GHz ({clock}) × {per_cycle} fp32 FLOP/cycle ({isa})"
    return cores * mhz * 1e6 * per_cycle, source


def _max_mhz() -> tuple[float, str]:
    """lscpu's max MHz where it is known (bare metal), else /proc/cpuinfo's clock (VMs)."""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        lscpu = ""
    if found := re.search(r"CPU max MHz:\s*([\d.]+)", lscpu):
        return float(found.group(1)), "lscpu max"
    clocks = re.findall(r"cpu MHz\s*:\s*([\d.]+)", _cpuinfo())
    if clocks:
        return max(map(float, clocks)), "/proc/cpuinfo"
    return 2000.0, "clock unknown, assumed"


def _cpu_flags() -> set[str]:
    found = re.search(r"^flags\s*:(.*)$", _cpuinfo(), re.MULTILINE)
    return set(found.group(1).split()) if found else set()


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
