# Stand-in for rayproject/ray:2.60.0-py311-gpu (tests only; built by build.sh, never pushed).
# What docker/Dockerfile and docker-compose.yml rely on, and nothing more:
# - user ray, uid 1000, group users (gid 100), home /home/ray, with passwordless sudo as
#   upstream gives it (a NOPASSWD line in /etc/sudoers and the sudo group): our Dockerfile
#   removes it and fails its build if any is left, so the stand-in must have it to remove;
# - Python 3.11 in an environment ray owns, first on PATH (upstream: /home/ray/anaconda3), where
#   `pip install` as uid 1000 works;
# - ray[default] at the pin: `ray start`, `ray status` (the healthcheck) and the dashboard's job
#   API, which needs the [default] extra that upstream ships and our project does not install;
# - bash (the worker's command), gpasswd, sed, grep and id (our Dockerfile's root step).
# Not reproduced: CUDA, conda, Ubuntu (Debian bookworm's Python 3.11 instead).
ARG BASE
FROM ${BASE}
ARG RAY_VERSION
USER 0
RUN apt-get update \
    && apt-get install -y --no-install-recommends sudo \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --home-dir /home/ray --shell /bin/bash --uid 1000 --gid 100 ray \
    && usermod -aG sudo ray \
    && echo 'ray ALL=NOPASSWD: ALL' >> /etc/sudoers \
    && python3 -m venv /home/ray/anaconda3 \
    && /home/ray/anaconda3/bin/pip install --no-cache-dir "ray[default]==${RAY_VERSION}" \
    && chown -R 1000:100 /home/ray
ENV PATH=/home/ray/anaconda3/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
USER 1000
WORKDIR /home/ray
