"""Training tokens/s and MFU for the quickstart encoder and klue/roberta-large's exact shape.

    python bench/throughput.py [--setups quickstart,roberta-large] [--quick]
    python bench/throughput.py --device cuda --precision bf16 --setups roberta-large \\
        --batch-sizes 8,16,32,64 [--json results.json]

- ``quickstart``: the scratch encoder of configs/quickstart.yaml, built by trainable/model.py on
  the real KLUE data (trainable/data.py), trained by our HF Trainer set-up
  (trainable/hf_trainer.build_trainer). Needs the project's packages and KLUE_RE_DIR.
- ``roberta-large``: klue/roberta-large's shape with random weights (no download), the same
  entity_start head and ``ce`` criterion, in a plain loop: importing the Trainer set-up needs
  pydantic, which a bare GPU machine lacks, and its PreparedData needs a real tokenizer. Needs
  only torch, transformers and numpy. Token ids are random in the vocabulary; each example's
  length is drawn from ``klue_train_lengths.json`` (real KLUE train sentences with our typed
  markers, tokenized by our pipeline; ``--write-lengths`` rebuilds it) and batches are
  length-grouped and padded to a multiple of 8, as the Trainer's are.

tokens/s counts real (non-padding) tokens, so padding shows up as lost MFU. MFU =
6 × N × tokens/s ÷ peak, with N the transformer layers' weights (embedding lookups and the
once-per-example head do no per-token matmul work); the MFU over all weights (the count of the
issue's 40 % anchor, 6 × 355 M × tokens/s) is printed next to it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

# Run as `python bench/throughput.py`: put the repository root first on sys.path.
sys.path[0] = str(Path(__file__).resolve().parents[1])
from bench.klue_lengths import epoch_tokens, synthetic_batches  # noqa: E402
from bench.peak_flops import peak_flops  # noqa: E402
from bench.roberta_shape import NUM_LABELS, roberta_large_model  # noqa: E402
from losses import build_criterion  # noqa: E402  (imports only torch)

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Result:
    setup: str
    device: str
    precision: str
    batch_size: int
    params_all: int
    params_layers: int
    timed_steps: int
    tokens: int  # real tokens over the timed steps
    padded_tokens: int  # tokens including padding over the timed steps
    seconds: float
    peak_flops: float | None
    peak_source: str
    peak_memory_bytes: int | None

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds

    def achieved_flops(self, params: int) -> float:
        return 6 * params * self.tokens_per_s

    def mfu(self, params: int) -> float | None:
        return self.achieved_flops(params) / self.peak_flops if self.peak_flops else None


class TokenCounter:
    """Counts real and padded tokens of every training forward pass (a forward pre-hook), so the
    count is exactly what the model saw, whichever loop drove it."""

    def __init__(self, model: nn.Module) -> None:
        self.tokens = self.padded = 0
        self._hook = model.register_forward_pre_hook(self._count, with_kwargs=True)

    def stop(self) -> None:
        """Stop counting (the roberta-large model is reused across batch sizes)."""
        self._hook.remove()

    def _count(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        if module.training:
            self.tokens += int(kwargs["attention_mask"].sum())
            self.padded += kwargs["input_ids"].numel()


def layer_params(model: nn.Module) -> int:
    """Weights of the transformer layers (``encoder.encoder``: BERT and RoBERTa alike)."""
    return sum(p.numel() for p in model.encoder.encoder.parameters())


def all_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------- the two setups
def run_plain_loop(model, args, batch_size: int) -> tuple[TokenCounter, float]:
    """Warm-up then timed steps of forward, ``ce``, backward, clip 1.0, AdamW (the Trainer's
    defaults), bf16 autocast when asked; seconds of the timed steps."""
    cuda = args.device == "cuda"
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-5, fused=cuda)
    criterion = build_criterion("ce", NUM_LABELS)
    vocab, pad = model.encoder.config.vocab_size, model.encoder.config.pad_token_id
    batches = synthetic_batches(batch_size, args.warmup + args.steps, vocab, pad, NUM_LABELS)
    autocast = torch.autocast(args.device, torch.bfloat16, enabled=args.precision == "bf16")
    model.train()
    counter = None
    for index, batch in enumerate(batches):
        if index == args.warmup:
            _sync(args.device)
            counter, start = TokenCounter(model), time.perf_counter()
        batch = {key: value.to(args.device, non_blocking=True) for key, value in batch.items()}
        labels = batch.pop("labels")
        with autocast:
            logits = model(**batch)
        criterion(logits, labels).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    _sync(args.device)
    seconds = time.perf_counter() - start
    counter.stop()
    return counter, seconds


def run_quickstart(args, batch_size: int) -> tuple[nn.Module, TokenCounter, float]:
    """configs/quickstart.yaml's encoder and data through our HF Trainer set-up, stopped after
    the timed steps. Project imports happen here: the roberta-large setup runs without them."""
    from transformers import TrainerCallback

    from search.config import load_sweep_config
    from trainable.data import prepare_data
    from trainable.hf_trainer import build_trainer
    from trainable.model import build_model

    class StepClock(TrainerCallback):
        """Starts counting after the warm-up steps, stops training after the timed ones and
        skips the epoch-end evaluation and checkpoint (not training throughput)."""

        def on_step_end(self, _args, state, control, **kwargs):
            _sync(args.device)
            if state.global_step == args.warmup:
                self.counter, self.start = TokenCounter(model), time.perf_counter()
            if state.global_step == args.warmup + args.steps:
                self.seconds = time.perf_counter() - self.start
                control.should_training_stop = True

        def on_epoch_end(self, _args, state, control, **kwargs):
            control.should_evaluate = control.should_save = False

    settings = load_sweep_config(REPO / "configs" / "quickstart.yaml").trial_sections()
    settings.train.batch_size, settings.train.precision = batch_size, args.precision
    data = prepare_data(settings)
    torch.manual_seed(0)
    model = build_model(settings.model, data.tokenizer, data.num_labels)
    criterion = build_criterion("ce", data.num_labels)
    clock = StepClock()
    with tempfile.TemporaryDirectory() as output:
        trainer = build_trainer(
            model, data, criterion, settings.train, seed=0, output_dir=Path(output),
            on_epoch=lambda *args: None,
        )  # fmt: skip
        trainer.add_callback(clock)
        trainer.train()
    return model, clock.counter, clock.seconds


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


# ---------------------------------------------------------------- measuring and printing
def measure(setup: str, args, batch_size: int, model: nn.Module | None) -> Result:
    """One setup at one batch size; peak memory is reset first, so it is this size's."""
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    if setup == "quickstart":
        model, counter, seconds = run_quickstart(args, batch_size)
    else:
        counter, seconds = run_plain_loop(model, args, batch_size)
    peak, source = peak_flops(args.device, args.precision)
    if args.peak_tflops:
        peak, source = args.peak_tflops * 1e12, "--peak-tflops"
    memory = torch.cuda.max_memory_allocated() if args.device == "cuda" else None
    return Result(
        setup, args.device, args.precision, batch_size, all_params(model), layer_params(model),
        args.steps, counter.tokens, counter.padded, seconds, peak, source, memory,
    )  # fmt: skip


def report(result: Result) -> list[str]:
    """The figures of one measurement, one ``name  value  (how)`` line each."""
    steps, tps = result.timed_steps, result.tokens_per_s
    mfu, mfu_all = result.mfu(result.params_layers), result.mfu(result.params_all)
    memory = result.peak_memory_bytes
    return [
        f"== {result.setup} | {result.device} {result.precision} | batch {result.batch_size}",
        f"params            {result.params_all / 1e6:.1f} M all, "
        f"{result.params_layers / 1e6:.1f} M in the transformer layers",
        f"tokens/step       {result.tokens / steps:.0f} real "
        f"({result.padded_tokens / steps:.0f} with padding)",
        f"tokens/s          {tps:.1f}  ({steps} timed steps, {result.seconds:.2f} s)",
        f"achieved TFLOP/s  {result.achieved_flops(result.params_layers) / 1e12:.4g}  "
        "(6 × layer params × tokens/s)",
        f"peak TFLOP/s      {(result.peak_flops or 0) / 1e12:.4g}  ({result.peak_source})",
        f"MFU %             {_percent(mfu)}  (6 × all params, as the 40 % anchor: "
        f"{_percent(mfu_all)})",
        f"peak memory GiB   {memory / 2**30:.2f}" if memory else "peak memory GiB   n/a (cpu)",
        f"KLUE epoch        {epoch_tokens() / tps:.1f} s for the train split's "
        f"{epoch_tokens() / 1e6:.2f} M marked tokens at this rate",
    ]


def _percent(fraction: float | None) -> str:
    return f"{100 * fraction:.2f}" if fraction is not None else "n/a"


def plan(setup: str, args: argparse.Namespace) -> argparse.Namespace:
    """``args`` with this setup's batch sizes, warm-up and timed steps filled in: a CPU run of
    both setups stays within minutes, a GPU run times enough steps to be steady."""
    if args.quick:
        sizes, (warmup, steps) = [2], (1, 1)
    else:
        sizes = [4 if setup == "roberta-large" and args.device == "cpu" else 32]
        on_cpu = {"quickstart": (3, 15), "roberta-large": (1, 2)}
        warmup, steps = on_cpu[setup] if args.device == "cpu" else (5, 20)
    if args.batch_sizes:
        sizes = [int(size) for size in args.batch_sizes.split(",")]
    return argparse.Namespace(
        **{
            **vars(args),
            "sizes": sizes,
            "warmup": args.warmup or warmup,
            "steps": args.steps or steps,
        }
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setups", default="quickstart,roberta-large")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--batch-sizes", default=None, help="e.g. 8,16,32,64")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (>= 1)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps")
    parser.add_argument("--quick", action="store_true", help="batch 2, 1 + 1 steps (tests)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="override the table")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args(argv)
    if args.device == "cpu" and args.precision == "bf16":
        parser.error("--precision bf16 needs --device cuda (the CPU peak is an fp32 figure)")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device visible")
    if args.warmup is not None and args.warmup < 1:
        parser.error("--warmup must be at least 1 (the first step pays one-off costs)")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.device == "cuda":  # TF32 for what autocast leaves in fp32
        torch.set_float32_matmul_precision("high")
    load = os.getloadavg()[0]  # other processes on the cores lower every CPU figure
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
        f"load average {load:.1f} on {os.cpu_count()} CPUs"
    )
    results = []
    for setup in args.setups.split(","):
        run = plan(setup, args)
        model = roberta_large_model(args.device) if setup == "roberta-large" else None
        for size in run.sizes:
            try:
                results.append(measure(setup, run, size, model))
            except torch.cuda.OutOfMemoryError:
                print(f"== {setup} | batch {size}: out of GPU memory", flush=True)
                torch.cuda.empty_cache()
                continue
            print("\n".join(report(results[-1])), flush=True)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")


if __name__ == "__main__":
    main()
