#!/usr/bin/env bash
# Build the project's two images from docker/Dockerfile and docker/mlflow.Dockerfile, unchanged,
# on top of the stand-in bases (tests/docker/standins/build.sh), with the tags of the CPU stack
# (docker-compose.yml + docker-compose.cpu.yml). torch is the CPU build (TORCH_CUDA=cpu) from a loopback copy of
# the index (tests/docker/torch_index.py): PyTorch's index cannot be reached from these machines.
# Images of ours that a new build replaced (left untagged), and build cache it did not use, are
# removed.
#
#   tests/docker/build_images.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
python=${PYTHON:-$repo/.venv/bin/python}
cache=${DOCKER_TEST_CACHE:-/var/cache/klue-docker-test}
logs=${DOCKER_TEST_LOGS:-${TMPDIR:-/tmp}/klue-docker-test}
label=klue-loss-sweep.test=image
# shellcheck source=tests/docker/build_lib.sh
. "$here/build_lib.sh"
mkdir -p "$logs"

# The tags docker-compose.yml gives the images it builds.
image_of() { sed -n "/^  $1:/,/^  [a-z]/s/^    image: *//p" "$repo/docker/docker-compose.yml" | head -1; }
# The Ray image is the CPU stack's (docker-compose.cpu.yml): the same Dockerfile with TORCH_CUDA=cpu.
ray_image=$(sed -n 's/^  image: *\(klue-loss-sweep:[^ ]*\)$/\1/p' "$repo/docker/docker-compose.cpu.yml")
mlflow_image=$(image_of mlflow)

build() { # name log-name docker-build-arguments...
    local name=$1 log="$logs/build-$2.log" start
    shift 2
    start=$(date +%s)
    docker_build --network host --label "$label" -t "$name" "$@" >"$log" 2>&1 \
        || { tail -40 "$log" >&2; exit 1; }
    echo "image $name: built in $(($(date +%s) - start)) s," \
        "$(docker image inspect -f '{{.Size}}' "$name" | awk '{printf "%.2f GB", $1 / 1e9}')"
}

(cd "$repo" && "$python" -m tests.docker.torch_index "$cache/torch-index")
# A fixed port: the index URL is a build argument, and a new value would rebuild every layer
# from the torch install on (Docker's build cache keys on it).
port=${TORCH_INDEX_PORT:-38111}
"$python" -m http.server --bind 127.0.0.1 --directory "$cache/torch-index" "$port" \
    >"$logs/torch-index.log" 2>&1 &
index_server=$!
trap 'kill "$index_server" 2>/dev/null || true' EXIT
until curl -fs -o /dev/null "http://127.0.0.1:$port/cpu/torch/"; do
    kill -0 "$index_server" 2>/dev/null || { cat "$logs/torch-index.log" >&2; exit 1; }
    sleep 0.2
done

build "$ray_image" ray -f "$repo/docker/Dockerfile" --build-arg TORCH_CUDA=cpu \
    --build-arg "TORCH_INDEX=http://127.0.0.1:$port" "$repo"
build "$mlflow_image" mlflow -f "$repo/docker/mlflow.Dockerfile" "$repo/docker"
docker image prune --force --filter "label=$label" >/dev/null
# Build cache that this build did not use: under vfs each entry is a whole file system (a rebuilt
# Ray image leaves about 10 GB behind). What the build used stays, so the next build hits it.
docker builder prune --force --filter unused-for=10m >/dev/null
