"""Sweep config validation: every malformed kind gives its one-line message before Ray starts."""

import subprocess
import sys

import pytest

from search.compare import load_compare_config
from search.config import load_sweep_config
from tests.helpers import REPO
from trainable.common.settings import download_dir
from trainable.common.yaml_config import ConfigError

QUICKSTART = REPO / "configs" / "quickstart.yaml"

MALFORMED = [
    # (--set overrides, expected message)
    (["serch.num_samples=4"], "serch: unknown key 'serch'; did you mean 'search'?"),
    (["search.num_sample=4"], "search.num_sample: unknown key 'num_sample'; did you mean 'num_samples'?"),
    (["search.num_samples=0"], "search.num_samples: Input should be greater than 0 (got 0)"),
    (["search.mode=max"], "search.mode: unknown key 'mode'"),
    (["search.metric=f1"], "search.metric: unknown metric 'f1'; known: micro_f1, auprc, accuracy, ce_loss"),
    (["search.metric=dev_micro_f1"], "search.metric: 'dev_micro_f1' selects on KLUE dev"),
    (["search.scheduler.type=hyperband"], "search.scheduler.type: Input should be 'asha' or 'none'"),
    (["search.scheduler.reduction_factor=1"], "search.scheduler.reduction_factor: Input should be greater than 1"),
    (["search.space.criterion.choice=[ce, facol]"], "search.space.criterion: unknown criterion 'facol'; known: ce, focal"),
    (["search.space.gamma.when=null"], "search.space.gamma: 'gamma' is not a parameter of ce, label_smoothing; add when: {criterion: [focal, class_balanced]}"),
    (["search.space.gamma.float=[-1, 5]"], "search.space.gamma: focal: gamma must be >= 0, but got -1.0"),
    (["search.space.smoothing.float=[0, 1.0]"], "search.space.smoothing: label_smoothing: smoothing must be >= 0 and < 1, but got 1.0"),
    (["search.space.gama={float: [0, 1]}"], "search.space.gama: 'gama' is neither a train knob nor a criterion parameter; did you mean 'gamma'?"),
    (["search.space.learning_rate.float=[0.01, 0.001]"], "search.space.learning_rate: low 0.01 must be <= high 0.001"),
    (["search.space.learning_rate.float=[0, 0.001]"], "search.space.learning_rate: log scale needs low > 0, got 0.0"),
    (["search.space.num_train_epochs.int=[0, 3]"], "search.space.num_train_epochs: 0: Input should be greater than or equal to 1"),
    (["search.space.gamma.flaot=[0, 1]"], "search.space.gamma.flaot: unknown key 'flaot'; did you mean 'float'?"),
    (["search.space.gamma.choice=[1, 2]"], "search.space.gamma: give exactly one of choice, float, int (got ['choice', 'float'])"),
    (["search.space.gamma.when={loss: focal}"], "search.space.gamma.when: 'loss' must be a parameter declared before 'gamma'"),
    (["search.warm_start=[{criterion: focal, gamma: 9.0}]"], "search.warm_start[0].gamma: 9.0 is outside float [0, 5]"),
    (["search.warm_start=[{criterion: ce, gamma: 1.0}]"], "search.warm_start[0].gamma: only sampled when criterion is one of ['focal']"),
    (["search.warm_start=[{criterion: ce, momentum: 0.9}]"], "search.warm_start[0].momentum: not in search.space"),
    (["resources.gpu=-1"], "resources.gpu: Input should be greater than or equal to 0 (got -1)"),
    (["failure.max_retries=-2"], "failure.max_retries: Input should be greater than or equal to 0"),
    (["criterion.name=focal", "criterion.gamma=-3"], "criterion: focal: gamma must be >= 0, but got -3.0"),
]  # fmt: skip


@pytest.mark.parametrize(("overrides", "message"), MALFORMED, ids=[m[:45] for _, m in MALFORMED])
def test_each_malformed_config_has_its_message(overrides, message):
    with pytest.raises(ConfigError) as error:
        load_sweep_config(QUICKSTART, overrides)
    assert message in str(error.value)


def test_the_direction_of_a_metric_comes_from_the_one_table():
    assert load_sweep_config(QUICKSTART, ["search.metric=ce_loss"]).search.mode == "min"
    assert load_sweep_config(QUICKSTART, ["search.metric=auprc"]).search.mode == "max"


def test_the_shipped_configs_are_valid():
    comparisons = {"seed_question.yaml"}  # fixed setups, no search: python -m search.compare
    for path in sorted((REPO / "configs").glob("*.yaml")):
        load = load_compare_config if path.name in comparisons else load_sweep_config
        load(path, [])


def test_every_problem_is_listed_at_once():
    # Schema problems are reported together; the cross-checks (space against the registry,
    # warm-start points against the space) run once the schema holds, and are listed together too.
    with pytest.raises(ConfigError) as error:
        load_sweep_config(QUICKSTART, ["search.num_samples=0", "search.mode=up", "trian.x=1"])
    assert len(error.value.problems) == 3
    with pytest.raises(ConfigError) as error:
        load_sweep_config(
            QUICKSTART,
            ["search.space.gamma.float=[-1, 5]", "search.warm_start=[{criterion: ce, gamma: 1}]"],
        )
    assert len(error.value.problems) == 2


def test_cli_reports_a_bad_config_in_one_line_without_starting_ray():
    done = subprocess.run(
        [sys.executable, "-m", "search.run", "--config", str(QUICKSTART), "--set", "search.space.gamma.float=[-1, 5]"],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()  # one line, no traceback
    words = ("error:", str(QUICKSTART), "search.space.gamma", "gamma must be >= 0", "-1.0")
    assert all(word in line for word in words)


@pytest.mark.parametrize(
    ("text", "problem"), [("", "the file is empty"), ("[ce, focal]\n", "got list")]
)
def test_cli_refuses_an_empty_or_non_mapping_config_naming_the_file(tmp_path, text, problem):
    """An empty file once started the default production sweep (klue/roberta-large)."""
    config = tmp_path / "empty.yaml"
    config.write_text(text, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "search.run", "--config", str(config)],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()  # one line, no traceback
    assert line.startswith(f"error: {config}: ") and problem in line
    assert not done.stdout


def test_dry_run_prints_the_resolved_config_and_the_space(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "search.run", "--config", str(QUICKSTART), "--dry-run"],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "learning_rate" in done.stdout and "(when criterion = focal)" in done.stdout
    assert "ray" not in {line.split(":")[0] for line in done.stderr.splitlines()}
    printed = tmp_path / "printed.yaml"  # what --dry-run prints is a config that loads as it is
    printed.write_text(done.stdout, encoding="utf-8")
    assert load_sweep_config(printed).config_hash() == load_sweep_config(QUICKSTART).config_hash()


def test_every_cli_help_reads_as_plain_text():
    for module in ("search.run", "search.report", "search.trial", "search.compare"):
        done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True,
                              text=True, timeout=120, cwd=REPO)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "``" not in done.stdout, module


def test_a_sampled_combination_a_criterion_rejects_is_caught():
    overrides = [
        "search.space.criterion.choice=[ce, focal, label_smoothing, class_balanced]",
        "search.space.gamma.when={criterion: [focal, class_balanced]}",
        "search.space.base={choice: [ce, focal], when: {criterion: class_balanced}}",
    ]
    with pytest.raises(
        ConfigError, match=r"criterion=class_balanced with .*base='ce'.*gamma applies only"
    ):
        load_sweep_config(QUICKSTART, overrides)


def test_the_production_config_without_klue_re_dir_downloads_into_the_cache(monkeypatch):
    monkeypatch.delenv("KLUE_RE_DIR", raising=False)
    config = load_sweep_config(REPO / "configs" / "loss_sweep.yaml")
    assert config.data.downloads() and config.data.resolved_dir() == download_dir()
