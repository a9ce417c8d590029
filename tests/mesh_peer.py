"""A stand-in venue edge for the mesh tests: a real process running a real MeshClient.

Driven by JSON lines on stdin, it reports what its instances receive as JSON
lines on stdout. Only the algorithm host is missing: messages are recorded
instead of being handed to WASM.

    python tests/mesh_peer.py --mesh-port 7172 --edge-id kraken-0 --venue kraken

Commands: {"cmd": "register", "instances": [{deployment_id, mesh_group, label, symbols, on_message, on_nbbo}]}
          {"cmd": "send", "from": dep, "to": label, "payload": "text", "repeat": 1}
          {"cmd": "send_hex", "from": dep, "to": label, "hex": "..."}
          {"cmd": "stream", "from": dep, "to": label, "count": n, "interval": s}  payload = str(i)
          {"cmd": "tob", "symbol": s, "bid_px": .., "bid_qty": .., "ask_px": .., "ask_qty": ..}
          {"cmd": "stats"}
Events:   {"event": "ready"} {"event": "message", ...} {"event": "nbbo", ...} {"event": "stats", ...}
          {"event": "stream_done", "sent_ok": n}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
from typing import Any

from sequence_edge.mesh.client import MeshClient, MeshInstance, Nbbo


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mesh-port", type=int, required=True)
    ap.add_argument("--edge-id", required=True)
    ap.add_argument("--venue", required=True)
    ap.add_argument("--nbbo-interval-ms", type=float, default=5.0)
    args = ap.parse_args()

    def on_message(deployment: str, src: str, payload: bytes, send_ts: int, seq: int) -> None:
        emit(
            {
                "event": "message",
                "deployment": deployment,
                "from": src,
                "payload": payload.decode("latin-1"),
                "seq": seq,
                "send_ts": send_ts,
            }
        )

    def on_nbbo(deployment: str, symbol: str, nbbo: Nbbo) -> None:
        emit({"event": "nbbo", "deployment": deployment, "symbol": symbol, **nbbo._asdict()})

    client = MeshClient(
        "127.0.0.1",
        args.mesh_port,
        edge_id=args.edge_id,
        venue=args.venue,
        on_message=on_message,
        on_nbbo=on_nbbo,
        nbbo_interval_ms=args.nbbo_interval_ms,
        heartbeat_s=0.2,
        peer_timeout_s=1.0,
        stats_interval_s=0.05,
        reconnect_max_s=0.2,
        token=os.environ.get("SEQUENCE_TOKEN"),
    )
    await client.start()
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def read_stdin() -> None:  # a thread: the loop itself must never block on stdin
        for line in sys.stdin:
            if line.strip():
                loop.call_soon_threadsafe(commands.put_nowait, json.loads(line))
        loop.call_soon_threadsafe(commands.put_nowait, None)

    threading.Thread(target=read_stdin, daemon=True).start()
    emit({"event": "ready"})
    streams: list[asyncio.Task[None]] = []

    async def stream(cmd: dict[str, Any]) -> None:
        ok = 0
        for i in range(cmd["count"]):
            ok += client.send(cmd["from"], cmd["to"], str(i).encode())
            await asyncio.sleep(cmd["interval"])
        emit({"event": "stream_done", "sent_ok": ok, **client.stats()})

    while (cmd := await commands.get()) is not None:
        kind = cmd["cmd"]
        if kind == "register":
            client.register(
                MeshInstance(
                    i["deployment_id"],
                    i["mesh_group"],
                    i["label"],
                    tuple(i.get("symbols", ())),
                    on_message=i.get("on_message", False),
                    on_nbbo=i.get("on_nbbo", False),
                )
                for i in cmd["instances"]
            )
        elif kind == "send":
            for _ in range(cmd.get("repeat", 1)):
                client.send(cmd["from"], cmd["to"], cmd["payload"].encode())
        elif kind == "send_hex":
            client.send(cmd["from"], cmd["to"], bytes.fromhex(cmd["hex"]))
        elif kind == "stream":
            streams.append(asyncio.create_task(stream(cmd)))
        elif kind == "tob":
            client.publish_top_of_book(
                cmd["symbol"], cmd["bid_px"], cmd["bid_qty"], cmd["ask_px"], cmd["ask_qty"]
            )
        elif kind == "stats":
            emit(
                {
                    "event": "stats",
                    "connected": client.connected,
                    "registered": client.registered,
                    "rejected": client.rejected,
                    "venues": client.venues,
                    **client.stats(),
                }
            )
        else:
            emit({"event": "error", "message": f"unknown command {kind!r}"})
    await client.close()


if __name__ == "__main__":
    asyncio.run(main())
