"""The device's share of the Trainer's arguments: CUDA speedups only with CUDA, CPU untouched."""

import pytest
import torch
from transformers import TrainingArguments

from trainable.common.settings import ModelSettings
from trainable.device import FUSED_ADAMW, trainer_arguments
from trainable.model import build_model, build_tokenizer

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU case")
def test_on_cpu_the_trainer_gets_what_it_always_got(tmp_path):
    assert trainer_arguments("auto") == {
        "bf16": False, "fp16": False, "use_cpu": True, "tf32": None,
        "dataloader_pin_memory": False, "optim": FUSED_ADAMW,
    }  # fmt: skip
    # ... which are the Trainer's own CPU defaults: nothing changed for CPU runs.
    default = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    assert default.optim == FUSED_ADAMW and default.tf32 is None
    assert default.dataloader_pin_memory is False


@cuda
def test_on_cuda_tf32_pinning_and_bf16_are_on_where_the_gpu_has_them():
    arguments = trainer_arguments("auto")
    assert arguments["use_cpu"] is False and arguments["dataloader_pin_memory"] is True
    ampere = torch.cuda.get_device_capability() >= (8, 0)
    assert arguments["tf32"] is (True if ampere else None)
    assert arguments["bf16"] is torch.cuda.is_bf16_supported()


def test_the_scratch_encoder_uses_pytorch_sdpa_attention():
    settings = ModelSettings(name_or_path="scratch", scratch={"vocab_size": 1000})
    tokenizer = build_tokenizer(settings, ["가나다 라마 바사"] * 50, max_length=64)
    model = build_model(settings, tokenizer, num_labels=3)
    assert model.encoder.config._attn_implementation == "sdpa"
