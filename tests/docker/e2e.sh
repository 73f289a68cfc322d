#!/usr/bin/env bash
# `make docker-test`: the Docker cluster launch for real. Builds the stand-in base images
# (tests/docker/standins) and the project's two images from docker/, then runs the `docker`
# tests (tests/docker/test_images.py, test_stack.py): compose up with the loopback override,
# the security checks, a small sweep with `ray job submit`, the report, down -v.
#
# Uses the Docker daemon that answers (DOCKER_HOST or the default socket); when none does, starts
# its own (tests/docker/dockerd.sh) and stops it at the end, keeping its data root (the image
# cache) for the next run. With its own daemon the stack runs in a network namespace of its own
# with nothing but a loopback interface: no listener of the stack exists outside it, and its
# fixed ports (5000, 5432, 6379, 8265) cannot collide with the machine's. A daemon that cannot
# start is a failure. Needs root (dockerd, debootstrap, ip netns).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
export DOCKER_TEST_LOGS=${DOCKER_TEST_LOGS:-${TMPDIR:-/tmp}/klue-docker-test}
export KLUE_RE_DIR=${KLUE_RE_DIR:-../shared/data/klue_re}
namespace=klue-docker-test
mkdir -p "$DOCKER_TEST_LOGS"
rm -f "$DOCKER_TEST_LOGS/timings.json"
started=$SECONDS

# The vfs driver keeps a full copy of the file system per layer and per container: a cold data
# root grows to about 23 GB and a warm run adds about 8 GB while the stack is up. Say so now
# rather than fail with ENOSPC halfway through a build.
require_free_gb() { # folder gigabytes
    local free_gb
    free_gb=$(df -P -BG "$1" | awk 'NR == 2 { sub("G", "", $4); print $4 }')
    if [ "$free_gb" -lt "$2" ]; then
        echo "make docker-test: $1 has $free_gb GB free; it needs $2 GB (vfs copies images whole)" >&2
        exit 1
    fi
}

own_daemon=0
if ! timeout 10 docker version >/dev/null 2>&1; then
    own_daemon=1
    for tool in dockerd /usr/bin/docker; do
        command -v "$tool" >/dev/null || {
            echo "make docker-test: no Docker daemon answers and $tool is missing" \
                "(Debian: apt-get install docker.io)" >&2
            exit 1
        }
    done
    data_root=${DOCKER_TEST_DATA_ROOT:-/var/lib/klue-docker-test}
    if [ -d "$data_root" ]; then require_free_gb "$data_root" 15; else require_free_gb "$(dirname "$data_root")" 40; fi
    DOCKER_HOST=$(tests/docker/dockerd.sh socket)
    export DOCKER_HOST
    trap 'tests/docker/dockerd.sh stop "$namespace"' EXIT
    tests/docker/dockerd.sh start
fi

step=$SECONDS
tests/docker/standins/build.sh
echo "stand-ins ready in $((SECONDS - step)) s"
step=$SECONDS
tests/docker/build_images.sh
echo "images ready in $((SECONDS - step)) s"

in_namespace=()
if [ "$own_daemon" = 1 ]; then
    # Builds need PyPI; the stack needs nothing but loopback: the daemon moves into the namespace.
    tests/docker/dockerd.sh stop
    tests/docker/dockerd.sh start "$namespace"
    export DOCKER_TEST_NETNS=$namespace
    in_namespace=(nsenter "--net=/run/netns/$namespace")
fi

status=0
"${in_namespace[@]}" .venv/bin/python -m pytest -m docker tests/docker --timeout 3000 \
    -p no:cacheprovider || status=$?

echo "timings (s): $(tr -d '\n ' <"$DOCKER_TEST_LOGS/timings.json" 2>/dev/null || echo none)"
docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' \
    | grep -E '^(klue-loss-sweep|rayproject/ray|ghcr.io/mlflow|postgres|klue-standin)' || true
if [ "$own_daemon" = 1 ]; then
    echo "docker data root: $(du -sh "${DOCKER_TEST_DATA_ROOT:-/var/lib/klue-docker-test}" | cut -f1)"
fi
echo "make docker-test: $((SECONDS - started)) s, pytest exit $status"
exit "$status"
