"""Our Tune wrapper's checkpoint retention, on a local loopback Ray with a trainable that only
reports (no model: what is tested is which checkpoint folders Tune and we keep)."""

import json
import tempfile
from pathlib import Path

from trainable.common import ray_tune

SCORES = [1.0, 3.0, 2.0]  # the best checkpoint (epoch 2) is not the latest (epoch 3)


def report_scores(config: dict, experiment_dir: Path) -> None:
    """First write down what the other trials' folders hold now, then report ``SCORES``."""
    mine = f"{ray_tune.TRIAL_FOLDER_PREFIX}{ray_tune.trial_id()}"
    others = {
        folder.name: sorted(c.name for c in folder.glob("checkpoint_*"))
        for folder in experiment_dir.glob(f"{ray_tune.TRIAL_FOLDER_PREFIX}*")
        if folder.name != mine
    }
    seen = experiment_dir.parent / "seen"
    seen.mkdir(exist_ok=True)
    (seen / f"{mine}.json").write_text(json.dumps(others))
    for epoch, score in enumerate(SCORES, start=1):
        with tempfile.TemporaryDirectory() as checkpoint:
            (Path(checkpoint) / "epoch").write_text(str(epoch))
            ray_tune.report({"epoch": epoch, "micro_f1": score}, Path(checkpoint))


def test_a_finished_trial_keeps_only_its_best_checkpoint_before_the_next_starts(tmp_path):
    experiment_dir = tmp_path / "results" / "retention"
    ray_tune.start_ray()
    tuner = ray_tune.build_tuner(
        report_scores, {"experiment_dir": experiment_dir}, {"cpu": 1},
        name="retention", storage_path=tmp_path / "results", metric="micro_f1",
        param_space={"run": ray_tune.grid([0, 1])}, max_concurrent=1,
    )  # fmt: skip
    results = tuner.fit()
    assert results.num_errors == 0 and results.num_terminated == 2

    seen = [json.loads(f.read_text()) for f in sorted((tmp_path / "results" / "seen").iterdir())]
    second = [view for view in seen if any(view.values())]
    # While the second trial ran, the first (finished) held its best checkpoint and nothing else;
    # Tune alone would also have kept the latest, checkpoint_000002.
    assert len(second) == 1 and list(second[0].values()) == [["checkpoint_000001"]]
    for trial in results:
        assert [c.name for c in Path(trial.path).glob("checkpoint_*")] == ["checkpoint_000001"]
