"""`--precision auto`: bf16 autocast where the training device computes bf16 natively, fp32
elsewhere. No Ray here; the Ray adapter asks the same question on a worker of a cluster of
several machines (launch/ray_cluster.py).

Natively means in hardware: a CPU with AVX512_BF16 (bf16 dot products) or AMX tiles, a GPU of
compute capability 8.0 or more (Ampere on). Elsewhere oneDNN and CUDA emulate bf16 through fp32,
which costs more than fp32 itself and buys nothing. Which of the two a run used is recorded in
its config (train.precision), so a resume, an evaluation and the results page read the resolved
value, never `auto`.
"""

from __future__ import annotations

import torch

AUTO = "auto"


def native_bf16(device: torch.device) -> tuple[bool, str]:
    """Whether `device` computes bf16 in hardware, and what torch reports that says so."""
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        name = torch.cuda.get_device_name(device)
        return (major, minor) >= (8, 0), f"{name}, compute capability {major}.{minor}"
    if device.type == "cpu":
        cpu = torch.cpu  # torch's own CPU feature probes (cpuinfo), private but stable since 2.1
        features = [name for name, probe in (("AVX512_BF16", "_is_avx512_bf16_supported"),
                                             ("AMX", "_is_amx_tile_supported"))
                    if getattr(cpu, probe, lambda: False)()]
        if features:
            return True, f"CPU with {' and '.join(features)}"
        return False, "CPU without AVX512_BF16 or AMX"
    return False, f"{device.type} device"


def resolve_precision(name: str, device: torch.device) -> tuple[str, str]:
    """(`fp32` or `bf16`, why): `auto` resolved for `device`; another name as it is."""
    if name != AUTO:
        return name, "asked for"
    native, what = native_bf16(device)
    return ("bf16" if native else "fp32"), what
