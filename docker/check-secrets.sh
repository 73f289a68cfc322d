#!/bin/sh
# Refuse to start a container while a secret is weak: the placeholder of docker/.env.example,
# empty, or shorter than 32 characters (`openssl rand -hex 32` gives 64). Prints one line per
# bad variable, naming it and never its value (container logs are read by more people than
# docker/.env is).
#
#   check-secrets NAME... [-- COMMAND ARG...]
#
# Exits 1 if any NAME is weak; otherwise runs COMMAND in its place (exec, so COMMAND is the
# container's main process and gets its stop signal), or exits 0 without one. POSIX sh: it runs
# in the Ray, MLflow and PostgreSQL images alike.
set -u
min_length=32
weak=0
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
    name=$1
    shift
    case $name in
        "" | [0-9]* | *[!A-Za-z0-9_]*)
            echo "check-secrets: not a variable name: '$name'" >&2
            exit 2
            ;;
    esac
    eval "value=\${$name-}"
    if [ "$value" = "change-me" ]; then
        problem="is still the placeholder change-me"
    elif [ -z "$value" ]; then
        problem="is empty or unset"
    elif [ "${#value}" -lt "$min_length" ]; then
        problem="is shorter than $min_length characters"
    else
        continue
    fi
    echo "refusing to start: $name $problem; set it in docker/.env (openssl rand -hex 32)" >&2
    weak=1
done
unset value
[ "$weak" -eq 0 ] || exit 1
[ "$#" -gt 0 ] || exit 0
shift
exec "$@"
