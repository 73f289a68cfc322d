#!/usr/bin/env bash
# The Docker daemon of `make docker-test`, when none answers: its own data root, run directory
# and socket, so it never touches a daemon or images of the machine's own.
#
#   tests/docker/dockerd.sh start [NETNS]   start it (inside network namespace NETNS if given)
#   tests/docker/dockerd.sh stop [NETNS]    stop it (and delete NETNS); the data root stays
#   tests/docker/dockerd.sh socket          print its DOCKER_HOST
#
# No iptables rules, no bridge: containers use host networking only. vfs storage works on any
# file system (overlay may not be available inside a container); cgroupfs because no systemd.
# Inside NETNS the containers' "host" network is that namespace: only its loopback.
set -euo pipefail

data_root=${DOCKER_TEST_DATA_ROOT:-/var/lib/klue-docker-test}
run_dir=${DOCKER_TEST_RUN_DIR:-/run/klue-docker-test}
socket="unix://$run_dir/docker.sock"
pidfile="$run_dir/dockerd.pid"
log=${DOCKER_TEST_LOGS:-${TMPDIR:-/tmp}/klue-docker-test}/dockerd.log

answers() { DOCKER_HOST=$socket timeout 10 docker version >/dev/null 2>&1; }

start() {
    local namespace=${1:-} wrap=() deadline
    mkdir -p "$data_root" "$run_dir" "$(dirname "$log")"
    if [ -n "$namespace" ]; then
        ip netns list | grep -qw "^$namespace" || ip netns add "$namespace"
        ip netns exec "$namespace" ip link set lo up
        # nsenter, not `ip netns exec`: that one also mounts a fresh /sys, hiding the cgroups.
        wrap=(nsenter "--net=/run/netns/$namespace")
    fi
    "${wrap[@]}" dockerd --iptables=false --ip6tables=false --bridge=none \
        --storage-driver=vfs --exec-opt native.cgroupdriver=cgroupfs \
        --data-root "$data_root" --exec-root "$run_dir/exec" --pidfile "$pidfile" \
        --host "$socket" >>"$log" 2>&1 &
    deadline=$((SECONDS + 90))
    until answers; do
        if ! kill -0 $! 2>/dev/null || [ "$SECONDS" -gt "$deadline" ]; then
            echo "dockerd.sh: the daemon did not answer; end of $log:" >&2
            tail -20 "$log" >&2
            exit 1
        fi
        sleep 1
    done
    echo "dockerd.sh: daemon up at $socket${namespace:+ in network namespace $namespace}"
}

stop() {
    local pid deadline
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || { rm -f "$pidfile"; return 0; }
    deadline=$((SECONDS + 60))
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$SECONDS" -gt "$deadline" ]; then kill -9 "$pid" 2>/dev/null || true; fi
        sleep 1
    done
    echo "dockerd.sh: daemon stopped (data root $data_root kept)"
}

delete_namespace() {
    if [ -n "${1:-}" ] && ip netns list | grep -qw "^$1"; then ip netns delete "$1"; fi
}

case ${1:-} in
    start) start "${2:-}" ;;
    stop) stop && delete_namespace "${2:-}" ;;
    socket) echo "$socket" ;;
    *) echo "usage: $0 start [NETNS] | stop [NETNS] | socket" >&2; exit 2 ;;
esac
