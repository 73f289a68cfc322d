"""Our Tune wrapper's checkpoint retention, on a local loopback Ray with a trainable that only
reports (no model: what is tested is which checkpoint folders Tune and we keep): a running
trial keeps its latest, an ended one none."""

import json
import os
import tempfile
import time
from pathlib import Path

from search import ray_tune
from trainable import tune_session

SCORES = [1.0, 3.0, 2.0]  # the best epoch (2) is not the latest (3): neither outlives the trial
WAIT_S = 300  # Tune saves its state every 10 s or more; the deletion rides on those saves


def checkpoints(folder: Path) -> list[str]:
    return sorted(c.name for c in folder.glob("checkpoint_*"))


def report_scores(config: dict, experiment_dir: Path) -> None:
    """Wait until every trial that ended before this one holds no checkpoint (or give up at
    ``WAIT_S``), write down what they hold, then report ``SCORES``."""
    mine = f"{ray_tune.TRIAL_FOLDER_PREFIX}{tune_session.trial_id()}"
    ended = [
        folder
        for folder in experiment_dir.glob(f"{ray_tune.TRIAL_FOLDER_PREFIX}*")
        if folder.name != mine and (folder / "result.json").is_file()
    ]
    deadline = time.monotonic() + WAIT_S
    while any(checkpoints(f) for f in ended) and time.monotonic() < deadline:
        time.sleep(0.5)
    seen = experiment_dir.parent / "seen"
    seen.mkdir(exist_ok=True)
    (seen / f"{mine}.json").write_text(json.dumps({f.name: checkpoints(f) for f in ended}))
    for epoch, score in enumerate(SCORES, start=1):
        with tempfile.TemporaryDirectory() as checkpoint:
            (Path(checkpoint) / "epoch").write_text(str(epoch))
            tune_session.report({"epoch": epoch, "micro_f1": score}, Path(checkpoint))
            kept = checkpoints(experiment_dir / mine)
            assert len(kept) <= 2, kept  # the latest, and the one being registered


def test_an_ended_trial_loses_its_checkpoints_while_the_sweep_goes_on(tmp_path):
    experiment_dir = tmp_path / "results" / "retention"
    ray_tune.start_ray()
    tuner = ray_tune.build_tuner(
        report_scores, {"experiment_dir": experiment_dir}, {"cpu": 1},
        name="retention", storage_path=tmp_path / "results", metric="micro_f1",
        param_space={"run": ray_tune.grid([0, 1])}, max_concurrent=1,
    )  # fmt: skip
    results = ray_tune.fit(tuner, trials=2)
    assert results.num_errors == 0 and results.num_terminated == 2

    seen = [json.loads(f.read_text()) for f in sorted((tmp_path / "results" / "seen").iterdir())]
    second = [view for view in seen if view]
    # While the second trial ran, the first (ended) lost its checkpoints; after the run, no
    # trial holds one.
    assert len(second) == 1 and list(second[0].values()) == [[]]
    assert not list(experiment_dir.rglob("checkpoint_*"))


def report_then_linger(config: dict, *, pids: Path) -> None:
    """One epoch, then seconds of work after the last report (as a trial ending its MLflow run
    and freeing memory on a loaded box does) before the function returns."""
    (pids / tune_session.trial_id()).write_text(str(os.getpid()))
    with tempfile.TemporaryDirectory() as checkpoint:
        tune_session.report({"epoch": 1, "micro_f1": 1.0}, Path(checkpoint))
    time.sleep(config["linger_s"])


def test_a_reused_process_waits_for_the_previous_trial_to_return(tmp_path):
    """A trial Tune stops on a result (ASHA at a rung or at max_t; here ``stop``) may still be
    running its function when Tune hands its process to the next trial; Tune waited 2 s by
    default, the next trial then failed ("Trainable runner reuse requires reset_config()"),
    and the sweep hung waiting for a free slot."""
    ray_tune.start_ray()
    pids = tmp_path / "pids"
    pids.mkdir()
    tuner = ray_tune.build_tuner(
        report_then_linger, {"pids": pids}, {"cpu": 1}, name="linger", storage_path=tmp_path / "results",
        metric="micro_f1", param_space={"linger_s": 5, "run": ray_tune.grid([0, 1, 2])},
        max_concurrent=1, reuse_actors=True, stop={"epoch": 1},
    )  # fmt: skip
    results = ray_tune.fit(tuner, trials=3)
    assert results.num_errors == 0, [str(result.error)[:200] for result in results if result.error]
    assert len({p.read_text() for p in pids.iterdir()}) == 1  # one process: it was reused
