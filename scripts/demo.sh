#!/usr/bin/env bash
# The demo: install, then run the cross-venue mesh on this machine for 30 seconds -- a maker on a
# simulated Kraken book tells a hedger on a simulated Coinbase book about every fill, through
# the coordinator -- with the live table on a terminal, then print the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
summary="$(mktemp --suffix=.json)"
echo "== sequence up examples/mesh-arb --start --duration 30"
sequence up examples/mesh-arb --start --duration 30 --json "$summary"
echo "== summary ($summary)"
python3 - "$summary" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
for name, d in s["deployments"].items():
    mesh, lat = d["mesh"] or {}, d["latency_ns"] or {}
    print(f"{name:8} {d['venue']:9} fills {d['fills']:4}  position {d['position']}  "
          f"PnL {d['realized_pnl'] + d['unrealized_pnl']:+.2f}  callback p50 {lat.get('p50', 0) / 1000:.1f} us  "
          f"mesh sent {mesh.get('sent', 0)} received {mesh.get('received', 0)}")
for link in (s["mesh"] or {}).get("links", []):
    print(f"link {link['from']} -> {link['to']}: {link['messages']} messages, p50 {link['p50_us']} us, "
          f"p99 {link['p99_us']} us (seq.send in one algo -> on_message in the other)")
print(f"net position {s['net_position']}, mesh drops {s['mesh_drops']['total']}, restarts "
      f"{sum(p['restarts'] for p in s['processes'].values())}")
EOF
