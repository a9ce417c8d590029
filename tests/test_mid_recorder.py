"""The edge's mid recorder (sequence_edge.api.market_data): what `GET /v1/mids/{symbol}` answers,
on a real Edge stepping its sim feed in this process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sequence_edge.api.market_data import MidRecorder, book_mid
from sequence_edge.edge import Edge, EdgeConfig

from .mesh_support import wait_until

BTC = "BTC-USD"


@pytest.fixture
def edge() -> Iterator[Edge]:
    e = Edge(EdgeConfig(venue="kraken", seed=7, symbols=[BTC], updates_per_sec=2000, volatility_bps=5))
    try:
        wait_until(lambda: (e.step(), e.healthy())[1] and book_mid(e, BTC), what="a valid book")
        yield e
    finally:
        e.close()


def _sample_until_moved(edge: Edge, rec: MidRecorder, ts: int) -> None:
    def moved() -> bool:  # a new entry only once the mid moved
        edge.step()
        rec.sample(ts)
        return bool(rec.rings[BTC][-1][0] == ts)

    wait_until(moved, what="the sim's mid to move")


def test_the_history_keeps_changes_and_answers_the_mid_in_force(edge: Edge) -> None:
    rec = MidRecorder(edge, keep=3)
    rec.sample(1000)
    rec.sample(1500)  # nothing stepped: the same mid is not kept twice
    assert [ts for ts, _ in rec.rings[BTC]] == [1000]
    for ts in (2000, 3000, 4000):
        _sample_until_moved(edge, rec, ts)
    history = rec.history(BTC, since_ns=0, until_ns=None)
    assert history.ts_ns == [2000, 3000, 4000]  # the ring keeps the last 3 changes
    assert history.from_ns == 2000  # it forgot what came before: markouts older than this are unknown
    assert history.until_ns == 4000 and history.mids[-1] == book_mid(edge, BTC)
    window = rec.history(BTC, since_ns=3500, until_ns=3900)
    assert window.ts_ns == [3000]  # the change in force at since_ns, none after it yet
    assert rec.history("ETH-USD", 0, None).ts_ns == []
