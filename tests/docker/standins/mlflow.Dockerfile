# Stand-in for ghcr.io/mlflow/mlflow:v3.17.2 (tests only; built by build.sh, never pushed).
# What docker/mlflow.Dockerfile and docker-compose.yml rely on, and nothing more:
# - root as the build user, with pip on PATH installing into the Python that runs `mlflow`
#   (upstream: the system Python of a python-slim image; here a venv first on PATH, since
#   Debian's own Python refuses system-wide pip installs);
# - the mlflow CLI at the pin, and python3 on PATH (docker/mlflow_bootstrap.py's shebang);
# - groupadd/useradd, chown, chmod (our Dockerfile's user step).
ARG BASE
FROM ${BASE}
ARG MLFLOW_VERSION
RUN python3 -m venv /opt/mlflow \
    && /opt/mlflow/bin/pip install --no-cache-dir "mlflow==${MLFLOW_VERSION}"
ENV PATH=/opt/mlflow/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
