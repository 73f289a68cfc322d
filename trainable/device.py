"""What the trial's device allows, decided in one place: precision and the CUDA-only speedups.

Every speedup here is on only with CUDA. On CPU the Trainer gets exactly the arguments it got
before these existed, so CPU scores stay bit-identical (the quickstart's numbers do not move):

- bf16 autocast on GPUs that support it (Ampere and newer), else fp16; fp32 on CPU.
- TF32 matmuls (``TrainingArguments.tf32``) where the GPU has TF32 (Ampere and newer): the fp32
  work outside autocast (loss, optimizer, the encoder when precision is fp32) runs on tensor cores.
- Pinned host memory for the DataLoader, so batches copy to the GPU asynchronously.
- Fused AdamW (``adamw_torch_fused``): one kernel per step instead of one per tensor. The
  installed transformers already defaults to it on CPU and GPU (torch >= 2.8); it is named here so
  a change of that default cannot silently change CPU results or slow the GPU.
- SDPA attention needs nothing here: transformers 5 builds BERT/RoBERTa encoders (the scratch one
  too) with ``attn_implementation="sdpa"`` and falls back to eager where an architecture lacks it.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.utils import is_torch_tf32_available

FUSED_ADAMW = "adamw_torch_fused"


def resolve_precision(precision: str) -> str:
    """``auto`` → bf16 on GPUs that support it, fp16 on other GPUs, fp32 on CPU."""
    if precision != "auto":
        return precision
    if not torch.cuda.is_available():
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def trainer_arguments(precision: str) -> dict[str, Any]:
    """The device's share of ``TrainingArguments``: precision, TF32, pinning, optimizer."""
    resolved = resolve_precision(precision)
    cuda = torch.cuda.is_available()
    return {
        "bf16": resolved == "bf16",
        "fp16": resolved == "fp16",
        "use_cpu": not cuda,
        # None leaves torch's TF32 setting alone (CPU, or a GPU without TF32: True would raise).
        "tf32": True if cuda and is_torch_tf32_available() else None,
        "dataloader_pin_memory": cuda,
        "optim": FUSED_ADAMW,
    }
