# syntax=docker/dockerfile:1
# Dosewise trainer image (the worker, the setup job's migrations and policy bootstrap, and `make policies` in parts): the
# shared library and this one service with PyTorch's CPU build, in a virtualenv built in a first stage; the final stage is
# python-slim with that virtualenv, the shipped policies, no compiler, no pip, and a non-root user.
# Build from the repository root: docker build -f deploy/docker/trainer.Dockerfile -t dosewise-trainer .
# (BuildKit reads trainer.Dockerfile.dockerignore beside this file: the build context is only what is copied below.)
ARG PYTHON_VERSION=3.11.13

FROM python:${PYTHON_VERSION}-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/dosewise
WORKDIR /src
COPY shared/ shared/
COPY services/trainer/ services/trainer/
# torch first, from PyTorch's CPU wheel index (PyPI's default torch wheel brings several GB of CUDA libraries); then the
# trainer, whose torch==2.13.0 that 2.13.0+cpu satisfies. The version is services/trainer/pyproject.toml's pin.
RUN /opt/dosewise/bin/pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
 && /opt/dosewise/bin/pip install ./shared ./services/trainer \
 && /opt/dosewise/bin/python -m compileall -q /opt/dosewise/lib \
 && /opt/dosewise/bin/pip uninstall -y -q pip

FROM python:${PYTHON_VERSION}-slim-bookworm
# /var/lib/dosewise (DOSEWISE_VAR_DIR: published policies) owned by the user, so a fresh Docker volume mounted there
# starts writable (Docker copies the directory's owner into it; Kubernetes uses fsGroup instead).
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin dosewise \
 && install -d -o 10001 -g 10001 /var/lib/dosewise
COPY --from=build /opt/dosewise /opt/dosewise
# The bootstrap registers these by their path relative to DOSEWISE_POLICY_DIR; the inference image carries the same files.
COPY policies/ /app/policies/
COPY deploy/docker/healthcheck.py /app/healthcheck.py
ENV PATH=/opt/dosewise/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 MPLCONFIGDIR=/tmp/matplotlib \
    DOSEWISE_ENV=production DOSEWISE_POLICY_DIR=/app/policies DOSEWISE_VAR_DIR=/var/lib/dosewise \
    DOSEWISE_TRAINER_METRICS_HOST=0.0.0.0 DOSEWISE_TRAINER_METRICS_PORT=8002
WORKDIR /app
USER 10001:10001
EXPOSE 8002
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["python", "/app/healthcheck.py", "trainer"]
CMD ["python", "-m", "dosewise_trainer"]
