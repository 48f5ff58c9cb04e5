# syntax=docker/dockerfile:1
# Dosewise inference image: the shared library and this one service (onnxruntime, never torch: services/inference/
# pyproject.toml) in a virtualenv built in a first stage; the final stage is python-slim with that virtualenv, the shipped
# policies, no compiler, no pip, and a non-root user.
# Build from the repository root: docker build -f deploy/docker/inference.Dockerfile -t dosewise-inference .
# (BuildKit reads inference.Dockerfile.dockerignore beside this file: the build context is only what is copied below.)
ARG PYTHON_VERSION=3.11.13

FROM python:${PYTHON_VERSION}-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/dosewise
WORKDIR /src
COPY shared/ shared/
COPY services/inference/ services/inference/
# The packages' own version ranges (pyproject.toml) decide what installs; the root file system is read-only at run time,
# so the bytecode is compiled here; pip leaves the final image.
RUN /opt/dosewise/bin/pip install ./shared ./services/inference \
 && /opt/dosewise/bin/python -m compileall -q /opt/dosewise/lib \
 && /opt/dosewise/bin/pip uninstall -y -q pip

FROM python:${PYTHON_VERSION}-slim-bookworm
# /var/lib/dosewise (DOSEWISE_VAR_DIR: published policies) owned by the user, so a fresh Docker volume mounted there
# starts writable (Docker copies the directory's owner into it; Kubernetes uses fsGroup instead).
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin dosewise \
 && install -d -o 10001 -g 10001 /var/lib/dosewise
COPY --from=build /opt/dosewise /opt/dosewise
# The registry stores shipped policies' paths relative to DOSEWISE_POLICY_DIR: the trainer image (which registers them)
# carries the same files at the same path. Build both images from one commit.
COPY policies/ /app/policies/
COPY deploy/docker/healthcheck.py /app/healthcheck.py
ENV PATH=/opt/dosewise/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 MPLCONFIGDIR=/tmp/matplotlib \
    DOSEWISE_ENV=production DOSEWISE_POLICY_DIR=/app/policies DOSEWISE_INFERENCE_HOST=0.0.0.0 DOSEWISE_INFERENCE_PORT=8001
WORKDIR /app
USER 10001:10001
EXPOSE 8001
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["python", "/app/healthcheck.py", "inference"]
CMD ["python", "-m", "dosewise_inference"]
