# klue-loss-sweep: the commands a newcomer runs (see README.md).
# Every target uses the pinned virtual environment at .venv; `make install` creates it.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# The KLUE RE files live outside the repo. Where ../shared/data/klue_re exists (the layout CI and
# dev machines share) it is the default; on a fresh clone without it KLUE_RE_DIR stays empty and
# the data step downloads and verifies the official files into ~/.cache/klue-loss-sweep/klue_re.
KLUE_RE_DIR ?= $(wildcard ../shared/data/klue_re)
export KLUE_RE_DIR
# Keep every Ray address on 127.0.0.1 for local runs and tests: without it Ray binds its GCS
# and raylets to the machine's network address even for a local ray.init().
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER ?= 0

.PHONY: install test test-fast lint format quickstart seed-question train mlflow-ui dashboard bench bench-search bench-trials bench-chaos docker-test clean

install: $(STAMP)

# Re-install only when the pins change (editable "compat" mode adds the repo as a path entry,
# so packages added later import without reinstalling). requirements.lock pins every transitive package too,
# so a fresh clone gets exactly the versions CI tested.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]' --config-settings editable_mode=compat
	touch $(STAMP)

## The whole suite, slow tests included (what CI runs).
test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Everything but the tests marked slow.
test-fast: lint
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## The offline demo sweep (8 trials on real KLUE, a fresh experiment name each run), then its
## report, which races the two best criteria and ce over paired seeds (3, then 5) and registers
## the recommended one's model as models:/<name>@champion.
quickstart: install
	@name=quickstart-$$(date +%Y%m%d-%H%M%S); \
	$(BIN)/python -m search.run --config configs/quickstart.yaml --set experiment.name=$$name && \
	$(BIN)/python -m search.report --config configs/quickstart.yaml --set experiment.name=$$name

## The seed team's question (CE vs their focal and label smoothing), raced over paired seeds
## (3, then 5), no search.
seed-question: install
	$(BIN)/python -m search.compare --config configs/seed_question.yaml

## One training run of the quickstart config, without a sweep (results in ray_results/trials/,
## apart from the sweeps' folders, so the sweep command runs as usual afterwards).
train: install
	$(BIN)/python -m search.trial --config configs/quickstart.yaml

# The quickstart's MLflow store (tracking.uri sqlite:///mlflow.db: where the sweep was started).
MLFLOW_STORE ?= mlflow.db
MLFLOW_PORT ?= 5000

## The sweeps of MLFLOW_STORE in the MLflow UI on http://127.0.0.1:5000 (MLFLOW_PORT=<port>).
## Checked first, as `mlflow ui` would create a store that is not there, and on a taken port
## print an errno and exit 0.
mlflow-ui: install
	@if [ ! -f "$(MLFLOW_STORE)" ]; then \
	  echo "make mlflow-ui: no MLflow store at $(MLFLOW_STORE) (run where the sweep ran, or MLFLOW_STORE=<its mlflow.db>)" >&2; \
	  exit 2; fi
	@if ! $(BIN)/python -c "import socket; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', $(MLFLOW_PORT)))" 2>/dev/null; then \
	  echo "make mlflow-ui: port $(MLFLOW_PORT) is taken (an MLflow UI already running?); choose another: MLFLOW_PORT=<port>" >&2; \
	  exit 2; fi
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(abspath $(MLFLOW_STORE)) --host 127.0.0.1 --port $(MLFLOW_PORT)

# The sweep's storage.path (configs/quickstart.yaml keeps the default, ray_results in the cwd).
STORAGE ?= ray_results
DASHBOARD_PORT ?= 8080

## A sweep's Optuna study in optuna-dashboard on http://127.0.0.1:8080, read-only: every trial's state,
## value and per-epoch values, plus history, intermediate-value and importance plots.
## make dashboard SWEEP=<experiment.name> [STORAGE=<storage.path>]
dashboard: install
	@if [ -z "$(SWEEP)" ]; then \
	  echo "make dashboard: name the sweep: make dashboard SWEEP=<experiment.name> (a folder of $(STORAGE)/)" >&2; \
	  exit 2; fi
	@if [ ! -f "$(STORAGE)/$(SWEEP)/optuna.db" ]; then \
	  echo "make dashboard: no Optuna study at $(STORAGE)/$(SWEEP)/optuna.db (a sweep elsewhere: STORAGE=<its storage.path>)" >&2; \
	  exit 2; fi
	$(BIN)/python -m search.dashboard $(STORAGE)/$(SWEEP)/optuna.db --port $(DASHBOARD_PORT)

bench: install
	$(BIN)/python bench/losses.py
	$(BIN)/python bench/trainable.py
	$(BIN)/python bench/search_overhead.py
	$(BIN)/python bench/throughput.py
	PYTHON=$(BIN)/python bash bench/gpu_check.sh

## Random search vs TPE, each with and without ASHA, at the same compute (bench/README.md, "Search
## efficiency"): about 40 minutes on 2 cores; BENCH_ARGS=--quick runs it in about 5.
BENCH_ARGS ?=
bench-search: install
	$(BIN)/python bench/search_efficiency.py $(BENCH_ARGS)

## 200 short trials on one driver against a real MLflow server (bench/README.md): memory,
## disk, Optuna's suggestion time and per-trial overhead; about 15 minutes on 2 cores.
bench-trials: install
	$(BIN)/python bench/many_trials.py $(BENCH_ARGS)

## Faults at random moments (bench/README.md, "Chaos bench"): at least 30 SIGKILLs of the
## driver, a trial's worker, the MLflow server, a Ray node and the report, each sweep checked
## against a fault-free one; writes chaos-results/chaos.json. BENCH_ARGS=--quick injects 3.
bench-chaos: install
	$(BIN)/python bench/chaos.py $(BENCH_ARGS)

## The Docker cluster launch for real (tests/docker/e2e.sh, as root): stand-in base images, both
## images from docker/, compose up on loopback, the security checks, a 2-trial sweep through
## `ray job submit`, the report, down -v. Starts (and stops) its own dockerd when none answers.
docker-test: install
	bash tests/docker/e2e.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
