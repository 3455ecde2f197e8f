# syntax=docker/dockerfile:1
# wire-ingest stream worker. Build: docker build -t wire-ingest:0.1.0 .
# Run:   docker run --rm -e KAFKA_BOOTSTRAP=broker:9092 -p 9108:9108 wire-ingest:0.1.0
# Other subcommands: docker run --rm --entrypoint wire-ingest wire-ingest:0.1.0 replay ...

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------- builder: wheels only
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# Every dependency ships manylinux wheels for x86_64; the compiler is the fallback for a
# platform where one does not (it stays in this stage, never in the final image).
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# Only what the package build reads (pyproject's readme is README.md).
COPY pyproject.toml README.md ./
COPY workers ./workers
RUN pip wheel --wheel-dir /wheels .

# ---------------------------------------------------------------- final: no build tools
FROM ${PYTHON_IMAGE}

ARG UID=10001
ARG GID=10001

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    WIRE_WEB_HOST=0.0.0.0 \
    WIRE_WEB_PORT=9108 \
    WIRE_STATE_DIR=/var/lib/wire-ingest

RUN groupadd --system --gid "${GID}" wire \
 && useradd --system --uid "${UID}" --gid wire --no-create-home \
        --home-dir /var/lib/wire-ingest --shell /usr/sbin/nologin wire \
 && install -d -o wire -g wire -m 0750 /var/lib/wire-ingest

# The wheels are bind-mounted from the builder, so they never land in a layer of this image.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    pip install --no-cache-dir --no-index --find-links=/wheels wire-ingest \
 && wire-ingest --version

# RocksDB table state. A new (anonymous or named) volume copies this directory's owner.
VOLUME ["/var/lib/wire-ingest"]
WORKDIR /var/lib/wire-ingest

# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER ${UID}:${GID}

EXPOSE 9108

# Liveness only (/health is 200 while the process answers); readiness is /health/ready.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/health' % os.environ.get('WIRE_WEB_PORT', '9108'), timeout=4)"]

# SIGTERM stops the worker cleanly; it exits within WIRE_SHUTDOWN_GRACE_S (default 12 s),
# so give it a longer stop timeout than Docker's 10 s default (docker stop -t 30).
STOPSIGNAL SIGTERM
ENTRYPOINT ["wire-ingest", "worker"]
