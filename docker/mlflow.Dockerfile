# The MLflow tracking server of docker/docker-compose.yml (service mlflow): MLflow's own image at
# the project's mlflow pin, plus the PostgreSQL driver for the backend store and Flask-WTF, which
# the basic-auth app (`mlflow server --app-name basic-auth`) needs. Built by `docker compose build`
# with docker/ as its context; docker/.dockerignore sends only mlflow-auth.ini.
FROM ghcr.io/mlflow/mlflow:v3.17.2

RUN pip install --no-cache-dir \
        "mlflow[auth]==3.17.2" \
        Flask-WTF==1.3.0 \
        WTForms==3.3.2 \
        psycopg2-binary==2.9.13

# Where the basic-auth app keeps its users; the admin account comes from MLFLOW_AUTH_ADMIN_* at
# the first start (docker/.env), never from this file.
COPY mlflow-auth.ini /etc/mlflow/auth.ini
ENV MLFLOW_AUTH_CONFIG_PATH=/etc/mlflow/auth.ini
