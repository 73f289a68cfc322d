"""What the sweep machinery costs: sweep wall time ÷ the same trials run bare, in one run.

    python bench/search_overhead.py [--trials 8] [--examples 8000] [--epochs 2]

1. A real sweep (``search.driver.run_sweep``: local Ray, Optuna, FIFO scheduler, one trial at a
   time on all cores, MLflow tracking to SQLite) over the quickstart space, timed end to end:
   data preparation, Ray start-up, trial processes, reporting, checkpoints, summary.
2. Each of its trials again, bare: the same settings and sampled values, trained in this process
   with no Ray and no MLflow (model → criterion → HF Trainer, evaluation each epoch included).

It also counts tokenizer calls in the driver and reads the prepared-data cache, showing that the
data is tokenized once per sweep and that trials do none. Needs KLUE_RE_DIR.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

# Run as `python bench/search_overhead.py`: put the repository root first on sys.path.
sys.path[0] = str(Path(__file__).resolve().parents[1])
import torch  # noqa: E402

import trainable.data  # noqa: E402
from losses import build_criterion  # noqa: E402
from search.config import load_sweep_config  # noqa: E402
from search.driver import run_sweep  # noqa: E402
from trainable.common.settings import TrialSettings  # noqa: E402
from trainable.data import prepare_data  # noqa: E402
from trainable.hf_trainer import build_trainer  # noqa: E402
from trainable.model import build_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def count_tokenizer_calls() -> list[int]:
    """Wrap the data module's tokenizing step; the returned list grows by one per split."""
    calls: list[int] = []
    original = trainable.data.tokenize_records

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    trainable.data.tokenize_records = counted
    return calls


def bare_trial(settings: TrialSettings, sampled: dict) -> float:
    """Seconds for one trial without Ray or MLflow (data comes from the warm disk cache)."""
    settings = settings.with_sampled(sampled)
    data = prepare_data(settings)  # a cache hit; sweep trials get it from the object store
    start = time.perf_counter()
    torch.manual_seed(settings.experiment.seed)
    model = build_model(settings.model, data.tokenizer, data.num_labels)
    criterion = build_criterion(
        settings.criterion.name, data.num_labels, class_counts=data.class_counts,
        **settings.criterion.params,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as output:
        trainer = build_trainer(
            model, data, criterion, settings.train, seed=settings.experiment.seed,
            output_dir=Path(output), on_epoch=lambda *args: None,
        )  # fmt: skip
        trainer.train()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--examples", type=int, default=8000, help="train subsample")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="search-overhead-"))
    cpus = torch.get_num_threads()
    overrides = {
        "data.cache_dir": workdir / "cache",
        "data.train_subsample": args.examples,
        "storage.path": workdir / "results",
        "tracking.uri": f"sqlite:///{workdir / 'mlflow.db'}",
        "search.num_samples": args.trials,
        "search.max_concurrent": 1,
        "search.scheduler.type": "none",
        "search.space.num_train_epochs.int": f"[{args.epochs}, {args.epochs}]",
        "resources.cpu": cpus,
    }
    config = load_sweep_config(
        REPO / "configs" / "quickstart.yaml", [f"{key}={value}" for key, value in overrides.items()]
    )
    calls = count_tokenizer_calls()

    start = time.perf_counter()
    run_sweep(config, resume=False)
    sweep_seconds = time.perf_counter() - start
    tokenized_in_sweep = len(calls)

    results = sorted((workdir / "results" / config.experiment.name).glob("trial_*/params.json"))
    sampled = [json.loads(path.read_text()) for path in results]
    bare = [bare_trial(config.sweep_trial_settings(), values) for values in sampled]
    cache_entries = [p for p in (workdir / "cache").iterdir() if not p.name.startswith(".")]

    print(
        f"{len(sampled)} trials x {args.epochs} epochs, {args.examples} train examples, "
        f"one trial at a time on {cpus} threads; torch {torch.__version__}"
    )
    print(f"sweep wall time          {sweep_seconds:8.1f} s")
    print(f"same trials, bare (sum)  {sum(bare):8.1f} s   ({', '.join(f'{b:.1f}' for b in bare)})")
    print(f"sweep ÷ bare             {sweep_seconds / sum(bare):8.3f}")
    print(
        f"tokenization: {tokenized_in_sweep} split tokenizations in the driver for the whole "
        f"sweep (train, selection, dev: once), {len(cache_entries)} prepared-data cache entry; "
        f"trials receive the prepared data through Ray's object store and tokenize nothing"
    )


if __name__ == "__main__":
    main()
