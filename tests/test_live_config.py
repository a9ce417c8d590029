"""`feed = { kind = "live" }` in Sequence.toml: validation, file checks, the edge flags it renders,
and the live feed's health in a VenueEdge's status."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from sequence.models import Feed
from sequence.project import ConfigError, load_project
from sequence.reconcilers.edges import _live_feed_health
from sequence.render.edge_spec import feed_args

REPO = Path(__file__).resolve().parents[1]


def write_project(tmp_path: Path, feed: str) -> Path:
    shutil.copy(REPO / "examples/market-maker/market_maker.wasm", tmp_path / "mm.wasm")
    (tmp_path / "Sequence.toml").write_text(
        f'[project]\nname = "p"\n\n[venue.kraken]\n{feed}\n\n'
        '[deploy.mm]\nvenue = "kraken"\nsymbols = ["BTC-USD"]\nbundle = "mm.wasm"\n'
    )
    return tmp_path


def test_live_feed_renders_to_edge_flags_with_paths_from_the_project(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text("{}")
    (tmp_path / "ca.pem").write_text("x")
    root = write_project(
        tmp_path,
        'feed = { kind = "live", live = { endpoint = "wss://127.0.0.1:9443/ws", '
        'markets_file = "m.json", cafile = "ca.pem", depth = 25 } }',
    )
    feed = load_project(root).config.venue["kraken"].feed
    assert feed_args(feed, None, root) == [
        "--feed", "live", "--live-depth", "25", "--live-endpoint", "wss://127.0.0.1:9443/ws",
        "--live-markets-file", str(root / "m.json"), "--live-cafile", str(root / "ca.pem"),
    ]  # fmt: skip
    assert feed_args(Feed(kind="live"), None) == ["--feed", "live"]


def test_live_feed_missing_files_name_the_line(tmp_path: Path) -> None:
    root = write_project(tmp_path, 'feed = { kind = "live", live = { markets_file = "nope.json" } }')
    with pytest.raises(
        ConfigError, match=r"Sequence.toml:5: venue.kraken.feed.live.markets_file: markets file"
    ):
        load_project(root)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "live", "live": {"endpoint": "http://x"}}, "String should match pattern"),
        ({"kind": "sim", "live": {}}, "live settings given but feed kind is 'sim'"),
        ({"kind": "live", "sim": {}}, "sim settings given but feed kind is 'live'"),
        ({"kind": "live", "live": {"depth": 0}}, "greater than or equal to 1"),
    ],
)
def test_bad_live_feed_settings_are_refused(data: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Feed.model_validate(data)


def test_venue_edge_status_carries_live_feed_health() -> None:
    feed = {"kind": "live", "connected": False, "last_update_age_s": 3.5, "gaps": 2, "checksum_failures": 1,
            "resyncs": 3}  # fmt: skip
    assert _live_feed_health(feed) == {
        "feedConnected": False, "feedLastUpdateAgeS": 3.5, "feedGaps": 3, "feedResyncs": 3,
    }  # fmt: skip
    assert _live_feed_health({"kind": "sim", "healthy": True}) == {}


def test_the_edge_and_its_cli_load_without_ccxt() -> None:
    """ccxt is imported only when a live feed starts: a sim or replay edge runs without the extra."""
    import subprocess
    import sys

    code = (
        "import sys; import sequence_edge.cli, sequence_edge.edge, sequence_edge.record; "
        "from sequence_edge.edge import Edge, EdgeConfig; Edge(EdgeConfig(venue='kraken', symbols=['BTC-USD'])).close(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ccxt', 'cryptofeed')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
