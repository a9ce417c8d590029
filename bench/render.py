"""Time `sequence render` on a generated 200-block Sequence.toml.

Prints medians and p99 of the whole command (what Argo CD pays per sync) as a
ratio against bare interpreter start-up (`python -c pass`) measured in the
same run, plus the in-process render time without start-up.

    python bench/render.py [--blocks 200] [--runs 15]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WASM = b"\0asm\x01\0\0\0"
VENUES = ("kraken", "coinbase", "binance", "okx", "bybit")


def generate(directory: Path, blocks: int) -> Path:
    lines = ['[project]\nname = "bench"\n']
    for venue in VENUES:
        lines.append(f'[venue.{venue}]\nfeed = {{ kind = "sim", sim = {{ seed = 1 }} }}\n')
    for i in range(blocks):
        (directory / f"algo{i % 20}.wasm").write_bytes(WASM + bytes([0, i % 20]) * 0)
        lines.append(
            f"[deploy.algo-{i}]\n"
            f'venue = "{VENUES[i % len(VENUES)]}"\n'
            f'label = "inst{i}"\n'
            'symbols = ["BTC-USD", "ETH-USD"]\n'
            f'bundle = "algo{i % 20}.wasm"\n'
            f'peers = ["inst{(i + 1) % blocks}"]\n'
            "risk = { max_order_qty = 0.5, max_position = 2, max_open_orders = 8, price_band_bps = 50 }\n"
            f"params = {{ spread_bps = {i % 7 + 1}, qty = 0.01 }}\n"
        )
    path = directory / "Sequence.toml"
    path.write_text("\n".join(lines))
    return path


def time_command(cmd: list[str], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return samples


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--blocks", type=int, default=200)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    sequence = shutil.which("sequence")
    render_cmd = [sequence] if sequence else [sys.executable, "-m", "sequence"]
    with tempfile.TemporaryDirectory() as tmp:
        path = generate(Path(tmp), args.blocks)
        baseline = time_command([sys.executable, "-c", "pass"], args.runs)
        render = time_command([*render_cmd, "render", str(path)], args.runs)

        from sequence.project import load_project
        from sequence.render.render import render as render_yaml

        inproc = []
        for _ in range(args.runs):
            start = time.perf_counter()
            out = render_yaml(load_project(path))
            inproc.append(time.perf_counter() - start)
        docs = out.count("\n---\n") + 1

    b, r, i = statistics.median(baseline), statistics.median(render), statistics.median(inproc)
    print(f"render of {args.blocks} deploy blocks -> {docs} objects, {args.runs} runs each")
    print(
        f"  python -c pass          median {b * 1e3:8.1f} ms   p99 {p99(baseline) * 1e3:8.1f} ms   (baseline)"
    )
    print(
        f"  sequence render (cli)   median {r * 1e3:8.1f} ms   p99 {p99(render) * 1e3:8.1f} ms   {r / b:5.1f}x baseline"
    )
    print(
        f"  render in-process       median {i * 1e3:8.1f} ms   p99 {p99(inproc) * 1e3:8.1f} ms   {i / b:5.2f}x baseline"
    )


if __name__ == "__main__":
    main()
