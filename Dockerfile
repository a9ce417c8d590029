# syntax=docker/dockerfile:1
# Operator image: runs `sequence operator` (kopf reconcilers, /healthz on 8080, /metrics on 9090).
# Build from the repository root:
#   docker build -t ghcr.io/sequence-k8s/sequence-operator:0.1.0 .
# The edge and coordinator image is edge-image/Dockerfile; both are built from the same wheel recipe.

# --- build: compile the Cython extensions into a wheel, and fetch every dependency as a wheel ---------
FROM python:3.11.14-slim-bookworm AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# A C compiler for the Cython extensions (setup.py builds every edge-image/sequence_edge/*.pyx).
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY operator/ operator/
COPY edge-image/sequence_edge/ edge-image/sequence_edge/
RUN pip wheel --wheel-dir /wheels .

# --- runtime: the same interpreter (the extensions are built for its ABI), wheels only, no compiler ----
FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    HOME=/tmp

RUN groupadd --system --gid 10001 sequence \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin sequence

# The wheels are bind-mounted from the build stage, so they never become a layer of this image.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels sequence-k8s

# Numeric, so that Kubernetes' runAsNonRoot can verify it (the chart runs the pod as 10001 too).
USER 10001:10001
EXPOSE 8080 9090
ENTRYPOINT ["sequence"]
CMD ["operator"]
