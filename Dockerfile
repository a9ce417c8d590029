# syntax=docker/dockerfile:1
# Both images from one build stage; pick one with --target (from the repository root):
#   docker build --target edge     -t ghcr.io/sequence-k8s/sequence-edge:0.1.0 .
#   docker build --target operator -t ghcr.io/sequence-k8s/sequence-operator:0.1.0 .
# edge:     `sequence edge --venue NAME --port 7070` (one venue per pod: feed, books, algo host, OMS; HTTP
#           control API, /healthz and /metrics on 7070) and `sequence coordinator --port 7171` (mesh
#           routing, NBBO, execution graphs). The base install plus the `live` extra (ccxt, for
#           `feed = { kind = "live" }` and `sequence record`): no kopf, no Kubernetes client.
# operator: `sequence operator` (kopf reconcilers, /healthz on 8080, /metrics on 9090): the `kube` extra.

# --- build: compile the Cython extensions into a wheel, and fetch every dependency as a wheel ---------
FROM python:3.11.14-slim-bookworm AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# A C compiler for the Cython extensions (setup.py builds every .pyx under edge-image/).
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY operator/ operator/
COPY edge-image/ edge-image/
COPY wire/ wire/
RUN pip wheel --wheel-dir /wheels ".[kube,live]"

# --- runtime base: the same interpreter (the extensions are built for its ABI), no compiler ------------
FROM python:3.11.14-slim-bookworm AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    HOME=/tmp

RUN groupadd --system --gid 10001 sequence \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin sequence

# --- edge and coordinator image ------------------------------------------------------------------------
FROM runtime AS edge

# The wheels are bind-mounted from the build stage, so they never become a layer of this image.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels "sequence-k8s[live]"

# Numeric, so that Kubernetes' runAsNonRoot can verify it (the chart runs the pod as 10001 too).
USER 10001:10001
EXPOSE 7070 7171
ENTRYPOINT ["sequence"]
CMD ["edge"]

# --- operator image (the default target) -----------------------------------------------------------------
FROM runtime AS operator

RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels "sequence-k8s[kube]"

USER 10001:10001
EXPOSE 8080 9090
ENTRYPOINT ["sequence"]
CMD ["operator"]
