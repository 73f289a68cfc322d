# Stand-in for postgres:17.6 (tests only; built by build.sh, never pushed).
# What docker-compose.yml relies on, and nothing more:
# - user postgres with uid/gid 999 (the service runs as "999:999"), owning the data directory
#   /var/lib/postgresql/data (a new named volume copies that owner) and the socket directory;
# - docker-entrypoint.sh on PATH honouring POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB with
#   a first-start init, then running its arguments (`postgres`); password logins over TCP;
# - pg_isready on PATH (the healthcheck) and sh (the mounted check-secrets).
# PostgreSQL 17 comes from Debian trixie (17.x, not exactly 17.6): bookworm has only 15, and
# PostgreSQL's own apt repository cannot be reached from these machines.
ARG BASE
FROM ${BASE}
ARG PG_MAJOR
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN groupadd --system --gid 999 postgres \
    && useradd --system --uid 999 --gid 999 --home-dir /var/lib/postgresql --shell /bin/bash postgres \
    && apt-get update \
    && apt-get install -y --no-install-recommends postgresql-common \
    && sed -ri 's/#(create_main_cluster) .*$/\1 = false/' /etc/postgresql-common/createcluster.conf \
    && apt-get install -y --no-install-recommends "postgresql-${PG_MAJOR}" \
    && rm -rf /var/lib/apt/lists/* \
    && install -d -o postgres -g postgres -m 3777 /var/run/postgresql \
    && install -d -o postgres -g postgres -m 1777 /var/lib/postgresql/data
ENV PATH=/usr/lib/postgresql/${PG_MAJOR}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
