"""Write examples/data/sample-kraken.csv.gz: 60 s of BTC-USD and ETH-USD in the replay format.

The records come from the sim feed (seed 7, fixed origin), so the file is reproducible:
    python scripts/make_replay_sample.py [--out PATH] [--seconds 60] [--rate 100]
The replay format is documented in docs/operations.md ("Replay format") and replay.py.
"""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

from sequence_edge.market.records import RecordBuffer
from sequence_edge.market.simfeed import SimMarket

REPO = Path(__file__).resolve().parents[1]
ORIGIN_NS = 1_763_719_200_000_000_000  # 2025-11-21T10:00:00Z
SYMBOLS = ("BTC-USD", "ETH-USD")
SIDE = {1: "bid", 2: "ask"}


def decimal(v: int) -> str:
    whole, frac = divmod(v, 100_000_000)
    return f"{whole}.{frac:08d}".rstrip("0").rstrip(".") if frac else str(whole)


def rows(seconds: float, rate: float) -> list[str]:
    sim = SimMarket(
        "kraken", seed=7, updates_per_sec=rate, volatility_bps=20.0, depth=10, origin_ns=ORIGIN_NS
    )
    for i, symbol in enumerate(SYMBOLS):
        sim.add_symbol(symbol, i)
    buf = RecordBuffer()
    sim.generate(buf, ORIGIN_NS + int(seconds * 1e9))
    out = [
        "# sequence replay sample: sim feed seed 7, scripts/make_replay_sample.py",
        "ts_ns,symbol,side,px,qty,seq",
    ]
    for i in range(len(buf)):
        kind, book, side, px, qty, seq, ts = buf[i]
        symbol = SYMBOLS[book]
        if kind == "snapshot_begin":
            out.append(f"{ts},{symbol},snapshot_begin,,,")
        elif kind == "snapshot_end":
            out.append(f"{ts},{symbol},snapshot_end,,,{seq}")
        else:
            out.append(
                f"{ts},{symbol},{SIDE[side]},{decimal(px)},{decimal(qty)},{seq if kind == 'level' else ''}"
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "examples/data/sample-kraken.csv.gz")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=100.0, help="updates per second per symbol")
    args = parser.parse_args()
    lines = rows(args.seconds, args.rate)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0: the same input gives the same bytes
    with open(args.out, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as fh:
        fh.write(("\n".join(lines) + "\n").encode())
    print(f"wrote {args.out}: {len(lines) - 2} records, {args.out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
