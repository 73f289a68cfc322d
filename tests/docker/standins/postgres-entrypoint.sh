#!/bin/sh
# The part of the postgres image's docker-entrypoint.sh that docker-compose.yml relies on: on the
# first start (empty data directory) initdb with POSTGRES_USER and POSTGRES_PASSWORD, create
# POSTGRES_DB, then run the command in place of this script. Local socket logins are trusted
# (the healthcheck's pg_isready); every TCP login needs the password (scram-sha-256). Unlike
# upstream, 127.0.0.1 over TCP is not trusted: under the tests' host networking that address is
# the whole machine's loopback, not the container's own.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required for the first start}"
    user=${POSTGRES_USER:-postgres}
    database=${POSTGRES_DB:-$user}
    chmod 0700 "$PGDATA"
    password_file=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$password_file"
    initdb --username="$user" --pwfile="$password_file" --auth-local=trust \
        --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$password_file"
    printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    # As upstream: every address (a compose network); the tests' override narrows it with -c.
    printf "listen_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''" start >/dev/null
    if [ "$database" != postgres ]; then
        psql -v ON_ERROR_STOP=1 --username "$user" --dbname postgres \
            -c "CREATE DATABASE \"$database\"" >/dev/null
    fi
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "docker-entrypoint.sh: initialised $PGDATA (user $user, database $database)"
fi
exec "$@"
