# Sourced by the build scripts of tests/docker: `docker build` with BuildKit, which our
# Dockerfiles need (COPY --chmod; the legacy builder refuses it). Through buildx where the
# Docker CLI has it; else through Debian's docker.io CLI (20.10), whose BuildKit is built in
# (newer CLIs without buildx fall back to the legacy builder).
docker_build() {
    if docker buildx version >/dev/null 2>&1; then
        docker build --progress plain "$@"
    else
        DOCKER_BUILDKIT=1 /usr/bin/docker build --progress plain "$@"
    fi
}
