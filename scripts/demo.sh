#!/usr/bin/env bash
# The demo: install, then show the mesh-arb project validated and rendered into the
# resources Argo CD / kubectl apply.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "== sequence validate examples/mesh-arb"
sequence validate examples/mesh-arb && echo "ok"
echo "== sequence render examples/mesh-arb (kinds and names)"
sequence render examples/mesh-arb | python3 -c '
import sys, yaml
for o in yaml.safe_load_all(sys.stdin):
    print(f"{o[\"kind\"]:16} {o[\"metadata\"][\"name\"]}")'
echo "== a broken file: exit 2, nothing on stdout, file:line: field: message"
printf "[project]\nname = \"demo\"\n[deploy.mm]\nvenue = \"kraken\"\nsymbol = [\"BTC-USD\"]\nbundle = \"x.wasm\"\n" > /tmp/Sequence.toml
sequence render /tmp/Sequence.toml || echo "(exit $?)"
