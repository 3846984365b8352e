# syntax=docker/dockerfile:1
# Every service's image, built from the repository root with the service's name and port:
#
#   docker build --build-arg SERVICE=intake --build-arg PORT=8001 -t jiesu/intake .
#
# SERVICE is the directory under services/ (its package is jiesu-<SERVICE>, its module
# jiesu_<SERVICE>); PORT is its settings' default port, for EXPOSE. The entrypoint,
# `python -m jiesu_common.container`, runs the service named in JIESU_SERVICE with the command
# given: `serve` (default: HTTP API, consumers and outbox relay), `worker` (consumers and relay,
# no HTTP), `migrate` (create the database if needed, migrate, seed) or `healthcheck`. The
# console has only `serve` and `healthcheck`. deploy/README.md lists the images.

ARG PYTHON_IMAGE=python:3.11-slim-trixie

FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

FROM ${PYTHON_IMAGE} AS build
ARG SERVICE
RUN test -n "${SERVICE}" || { echo "build with --build-arg SERVICE=<name>" >&2; exit 1; }
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app

# Third-party dependencies first, from the lock alone: this layer is reused until uv.lock or
# one of these manifests changes.
COPY pyproject.toml uv.lock ./
COPY libs/common/pyproject.toml libs/common/
COPY services/${SERVICE}/pyproject.toml services/${SERVICE}/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --package jiesu-${SERVICE} --no-install-workspace

# Then the workspace packages. They stay editable installs of /app/*/src on purpose: a
# service finds its Alembic migrations (the console its templates and pinned static assets)
# next to its sources.
COPY libs/common libs/common
COPY services/${SERVICE} services/${SERVICE}
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --package jiesu-${SERVICE} \
 && python -m compileall -q --invalidation-mode unchecked-hash libs services

FROM ${PYTHON_IMAGE}
ARG SERVICE
ARG PORT
# A fixed numeric id, so Kubernetes can check runAsNonRoot without a user database.
RUN groupadd --system --gid 10001 jiesu \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin jiesu
# Owned by root and not writable by the service: the root filesystem can be read-only.
COPY --from=build /app /app
WORKDIR /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    JIESU_SERVICE=${SERVICE}
USER 10001:10001
EXPOSE ${PORT}
# Liveness of `serve` on the port its settings give; `worker` and `migrate` have no HTTP and
# disable it where they run.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "jiesu_common.container", "healthcheck"]
ENTRYPOINT ["python", "-m", "jiesu_common.container"]
CMD ["serve"]
