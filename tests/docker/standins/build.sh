#!/usr/bin/env bash
# Build the stand-in base images and tag them with the upstream names our files use (read from
# docker/Dockerfile, docker/mlflow.Dockerfile and docker/docker-compose.yml), so that those files
# build and run unchanged on machines that cannot pull public images. Test fixtures only: never
# pushed. Cached by content: each image carries the hash of the files it is built from (label
# klue-loss-sweep.standin) and is rebuilt only when that hash changes.
#
#   tests/docker/standins/build.sh        (needs a Docker daemon, debootstrap and root)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
label=klue-loss-sweep.standin
# shellcheck source=tests/docker/build_lib.sh
. "$here/../build_lib.sh"
logs=${DOCKER_TEST_LOGS:-${TMPDIR:-/tmp}/klue-docker-test}
mkdir -p "$logs"

lock_pin() { sed -n "s/^$1==//p" "$repo/requirements.lock"; }
from_line() { awk '$1 == "FROM" {print $2}' "$1"; }
# The content hash of the named strings and files: 16 hex digits.
content_hash() {
    local item
    for item in "$@"; do
        if [ -f "$item" ]; then sha256sum <"$item"; else printf '%s\n' "$item"; fi
    done | sha256sum | cut -c1-16
}
current() { # image hash -> 0 when the image exists with that hash
    [ "$(docker image inspect -f "{{index .Config.Labels \"$label\"}}" "$1" 2>/dev/null)" = "$2" ]
}

rootfs() { # suite -> prints the rootfs image tag, building it when missing
    local suite=$1 hash
    hash=$(content_hash "$suite" "$here/rootfs.sh")
    if ! docker image inspect "klue-standin/$suite:$hash" >/dev/null 2>&1; then
        "$here/rootfs.sh" "$suite" "klue-standin/$suite:$hash" >&2
    fi
    # Root file systems of older stand-in files: nothing builds on them any more.
    docker images --format '{{.Repository}}:{{.Tag}}' "klue-standin/$suite" \
        | { grep -vx "klue-standin/$suite:$hash" || true; } | xargs -r docker rmi >/dev/null
    echo "klue-standin/$suite:$hash"
}

standin() { # upstream-tag dockerfile base version-arg=value [extra files...]
    local tag=$1 dockerfile=$2 base=$3 version=$4 hash start
    shift 4
    hash=$(content_hash "$base" "$version" "$here/$dockerfile" "$@")
    if current "$tag" "$hash"; then
        echo "stand-in $tag: cached ($hash)"
        return
    fi
    start=$(date +%s)
    docker_build --network host --label "$label=$hash" --build-arg "BASE=$base" \
        --build-arg "$version" -f "$here/$dockerfile" -t "$tag" "$here" >"$logs/standin-$dockerfile.log" 2>&1 \
        || { tail -30 "$logs/standin-$dockerfile.log" >&2; exit 1; }
    echo "stand-in $tag: built in $(($(date +%s) - start)) s ($hash)"
}

bookworm=$(rootfs bookworm)
trixie=$(rootfs trixie)
standin "$(from_line "$repo/docker/Dockerfile")" ray.Dockerfile "$bookworm" \
    "RAY_VERSION=$(lock_pin ray)"
standin "$(from_line "$repo/docker/mlflow.Dockerfile")" mlflow.Dockerfile "$bookworm" \
    "MLFLOW_VERSION=$(lock_pin mlflow)"
postgres_tag=$(sed -n 's/^ *image: *\(postgres:[^ ]*\)$/\1/p' "$repo/docker/docker-compose.yml")
postgres_version=${postgres_tag#postgres:}
standin "$postgres_tag" postgres.Dockerfile "$trixie" "PG_MAJOR=${postgres_version%%.*}" \
    "$here/postgres-entrypoint.sh"
# Stand-ins a rebuild replaced (their tag moved to the new one).
docker image prune --force --filter "label=$label" >/dev/null
