# syntax=docker/dockerfile:1
# Dosewise gateway image: the shared library and this one service in a virtualenv built in a first stage; the final stage
# is python-slim with that virtualenv, no compiler, no pip, no torch, and a non-root user.
# Build from the repository root: docker build -f deploy/docker/api.Dockerfile -t dosewise-api .
# (BuildKit reads api.Dockerfile.dockerignore beside this file: the build context is only what is copied below.)
ARG PYTHON_VERSION=3.11.13

ARG NODE_VERSION=20.20.2

# The clinician UI's chart library at the version services/api/frontend/package-lock.json pins (what `make ui-assets` does).
FROM node:${NODE_VERSION}-bookworm-slim AS ui-assets
WORKDIR /src
COPY services/api/frontend/package.json services/api/frontend/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error

FROM python:${PYTHON_VERSION}-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/dosewise
WORKDIR /src
COPY shared/ shared/
COPY services/api/ services/api/
COPY --from=ui-assets /src/node_modules/chart.js/dist/chart.umd.min.js /src/node_modules/chart.js/LICENSE.md \
     services/api/dosewise_api/static/ui/vendor/
# The packages' own version ranges (pyproject.toml) decide what installs; the root file system is read-only at run time,
# so the bytecode is compiled here; pip leaves the final image.
RUN /opt/dosewise/bin/pip install ./shared ./services/api \
 && /opt/dosewise/bin/python -m compileall -q /opt/dosewise/lib \
 && /opt/dosewise/bin/pip uninstall -y -q pip

FROM python:${PYTHON_VERSION}-slim-bookworm
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin dosewise
COPY --from=build /opt/dosewise /opt/dosewise
COPY deploy/docker/healthcheck.py /app/healthcheck.py
# MPLCONFIGDIR: matplotlib (imported by the shared library) wants a writable config dir; /tmp is the one writable path.
ENV PATH=/opt/dosewise/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 MPLCONFIGDIR=/tmp/matplotlib \
    DOSEWISE_ENV=production DOSEWISE_API_HOST=0.0.0.0 DOSEWISE_API_PORT=8000
WORKDIR /app
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["python", "/app/healthcheck.py", "api"]
CMD ["python", "-m", "dosewise_api"]
