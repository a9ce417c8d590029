#!/usr/bin/env bash
# Quickstart on kind (docs/kind.md): a local cluster, both images built and loaded, the chart
# installed, examples/mesh-arb deployed, and `kubectl get sequence` until the algorithms trade.
# Needs docker, kind, kubectl, helm and the `sequence` CLI (pip install -e . from this repository).
#
#   scripts/kind-up.sh            # create (or reuse) cluster "sequence", install, deploy, watch
#   scripts/kind-up.sh --down     # delete the example, then the cluster
set -euo pipefail

CLUSTER="${CLUSTER:-sequence}"
NAMESPACE="${NAMESPACE:-trading}"
VERSION="${VERSION:-dev}"
EDGE_IMAGE="ghcr.io/sequence-k8s/sequence-edge:${VERSION}"
OPERATOR_IMAGE="ghcr.io/sequence-k8s/sequence-operator:${VERSION}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
EXAMPLE="${ROOT}/examples/mesh-arb"

need() { command -v "$1" >/dev/null || { echo "kind-up: $1 is not installed (see docs/kind.md)" >&2; exit 2; }; }
for tool in docker kind kubectl helm sequence; do need "$tool"; done

if [[ "${1:-}" == "--down" ]]; then
    # Delete the project's objects first, while the operator runs: it releases their finalizers.
    sequence render "$EXAMPLE" | kubectl delete --namespace "$NAMESPACE" --ignore-not-found --wait -f - || true
    kind delete cluster --name "$CLUSTER"
    exit 0
fi

# 1. The cluster (reused when it exists).
if ! kind get clusters | grep -qx "$CLUSTER"; then
    kind create cluster --name "$CLUSTER" --wait 120s
fi
kubectl config use-context "kind-${CLUSTER}"

# 2. Both images from the repository's one Dockerfile, loaded into the kind node (no registry).
docker build --target edge -t "$EDGE_IMAGE" "$ROOT"
docker build --target operator -t "$OPERATOR_IMAGE" "$ROOT"
kind load docker-image --name "$CLUSTER" "$EDGE_IMAGE" "$OPERATOR_IMAGE"

# 3. The operator, watching the example's namespace. pullPolicy Never: the images are only on the node.
kubectl create namespace "$NAMESPACE" --dry-run=client -o yaml | kubectl apply -f -
helm upgrade --install sequence "${ROOT}/charts/sequence-operator" \
    --namespace sequence-system --create-namespace \
    --set "watch.namespaces={${NAMESPACE}}" \
    --set image.tag="$VERSION" --set image.pullPolicy=Never \
    --set edgeDefaults.image.tag="$VERSION" --set edgeDefaults.image.pullPolicy=Never \
    --wait --timeout 5m
helm test sequence --namespace sequence-system --timeout 5m

# 4. The example: rendered by the CLI, applied server-side (what `sequence deploy` does).
sequence validate "$EXAMPLE"
sequence render "$EXAMPLE" | kubectl apply --server-side --field-manager sequence-cli --namespace "$NAMESPACE" -f -

# 5. Wait until both algorithms run, then show them (Ctrl-C ends the watch; the cluster stays).
kubectl wait --namespace "$NAMESPACE" --for=jsonpath='{.status.lifecycleState}'=Running \
    algodeployments --all --timeout 5m
kubectl get sequence --namespace "$NAMESPACE"
exec kubectl get sequence --namespace "$NAMESPACE" --watch
