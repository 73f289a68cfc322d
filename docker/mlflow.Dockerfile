# The MLflow tracking server of docker/docker-compose.yml (service mlflow): MLflow's own image at
# the project's mlflow pin, plus the PostgreSQL driver for the backend store and Flask-WTF, which
# the basic-auth app (`mlflow server --app-name basic-auth`) needs. Built by `docker compose build`
# with docker/ as its context; docker/.dockerignore sends only the three files copied below.
FROM ghcr.io/mlflow/mlflow:v3.17.2

RUN pip install --no-cache-dir \
        "mlflow[auth]==3.17.2" \
        Flask-WTF==1.3.0 \
        WTForms==3.3.2 \
        psycopg2-binary==2.9.13

# The server runs as its own unprivileged user (the base image runs as root), fixed uid/gid so
# the volumes' owner stays the same across rebuilds. The artifacts and the user store get one
# volume each (docker-compose.yml): a new named volume copies the owner of its mount point, and
# the user store (password hashes) is never under the directory the server serves files from.
RUN groupadd --gid 10001 mlflow \
    && useradd --no-log-init --uid 10001 --gid mlflow --create-home --home-dir /home/mlflow \
        --shell /usr/sbin/nologin mlflow \
    && mkdir -p /mlflow/artifacts /mlflow-auth \
    && chown mlflow:mlflow /mlflow/artifacts /mlflow-auth \
    && chmod 0700 /mlflow-auth

# Basic-auth settings (no credentials: the admin comes from MLFLOW_AUTH_ADMIN_* at the first
# start); the secret check; and the bootstrap that starts the server and gives the sweep its own
# non-admin user (docker/mlflow_bootstrap.py).
COPY mlflow-auth.ini /etc/mlflow/auth.ini
COPY --chmod=0755 check-secrets.sh /usr/local/bin/check-secrets
COPY --chmod=0755 mlflow_bootstrap.py /usr/local/bin/mlflow-bootstrap
# The server reports no usage to MLflow's vendor.
ENV MLFLOW_AUTH_CONFIG_PATH=/etc/mlflow/auth.ini \
    MLFLOW_DISABLE_TELEMETRY=true
USER 10001:10001
