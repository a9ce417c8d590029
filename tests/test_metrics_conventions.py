"""`/metrics` of the edge, the coordinator and the operator follow the Prometheus conventions that
`promtool check metrics` and reviewers apply, read back with prometheus_client's own parser:

- one meaning per name across the three processes (a name exported by two processes has the same
  type and HELP in both);
- histograms, not quantile gauges (no `quantile` label on a gauge);
- units in names: durations are `_seconds`, sizes `_bytes`; counters end in `_total`;
- HELP text on every family, saying what is sampled where sampling happens;
- `<process>_build_info` and the standard `process_*` metrics on every process.

The edge runs a real market maker (so per-deployment families have samples) connected to a real
coordinator (so mesh families do); the operator's registry is its module's, as `sequence operator`
serves it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import AUTH
from .mesh_support import CoordinatorProcess
from .test_edge_process import MM, MM_RISK, EdgeProcess, wait_for

UNIT_WORDS = {"latency": "_seconds", "duration": "_seconds", "lag": "_seconds", "size": "_bytes"}


@pytest.fixture(scope="module")
def texts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    coordinator = CoordinatorProcess()
    edge = EdgeProcess(
        tmp_path_factory.mktemp("edge"),
        "--venue", "kraken", "--seed", "7", "--symbols", "BTC-USD", "--coordinator", f"127.0.0.1:{coordinator.mesh_port}",
    )  # fmt: skip
    try:
        resp = edge.push(
            "mm", MM, label="mm", params={"spread_bps": 4, "qty": 0.01, "max_position": 0.05}, risk=MM_RISK
        )
        assert resp.status_code == 201, resp.text
        wait_for(lambda: edge.status("mm")["orders"] > 0, what="the market maker's first orders")
        import sequence.reconcilers.metrics  # noqa: F401  (registers the operator's families)

        yield {
            "edge": edge.http.get("/metrics").text,
            "coordinator": httpx.get(
                f"http://127.0.0.1:{coordinator.port}/metrics", timeout=10, headers=AUTH
            ).text,
            "operator": generate_latest(REGISTRY).decode(),
        }
    finally:
        edge.stop()
        coordinator.stop()


def families(text: str) -> dict[str, object]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_every_process_has_build_info_and_process_metrics(texts: dict[str, str]) -> None:
    for process, text in texts.items():
        names = families(text)
        assert f"sequence_{process}_build_info" in names, process
        (sample,) = names[f"sequence_{process}_build_info"].samples  # type: ignore[attr-defined]
        assert sample.value == 1 and sample.labels["version"], process
        assert {"process_cpu_seconds", "process_resident_memory_bytes"} <= set(names), process


def test_names_types_units_and_help(texts: dict[str, str]) -> None:
    problems = []
    seen: dict[str, tuple[str, str, str]] = {}
    for process, text in texts.items():
        for family in text_string_to_metric_families(text):
            name, kind, doc = family.name, family.type, family.documentation
            if not name.startswith("sequence_"):
                continue
            if not doc.strip():
                problems.append(f"{process}: {name} has no HELP")
            if name in seen and seen[name][:2] != (kind, doc):
                problems.append(f"{name}: {seen[name][2]} and {process} give it different meanings")
            seen.setdefault(name, (kind, doc, process))
            if kind == "gauge" and any("quantile" in s.labels for s in family.samples):
                problems.append(f"{process}: {name} is a quantile gauge; use a histogram")
            if kind == "summary":
                problems.append(f"{process}: {name} is a summary; use a histogram")
            for word, unit in UNIT_WORDS.items():
                if word in name and not name.endswith(unit) and kind in ("histogram", "gauge"):
                    problems.append(f"{process}: {name} measures {word} without {unit} in its name")
            if kind == "histogram" and not re.search(r"_(seconds|bytes)$", name):
                problems.append(f"{process}: histogram {name} has no unit")
            for sample in family.samples:
                if kind == "counter" and not (
                    sample.name.endswith("_total") or sample.name.endswith("_created")
                ):
                    problems.append(f"{process}: counter sample {sample.name} does not end in _total")
    assert not problems, "\n".join(problems)


def test_mesh_drops_mean_one_thing_per_name(texts: dict[str, str]) -> None:
    edge, coordinator = families(texts["edge"]), families(texts["coordinator"])
    assert "sequence_edge_mesh_dropped" in edge and "sequence_mesh_dropped" not in edge
    assert "sequence_mesh_dropped" in coordinator and "sequence_edge_mesh_dropped" not in coordinator


def test_latencies_are_histograms_and_say_what_is_sampled(texts: dict[str, str]) -> None:
    edge = families(texts["edge"])
    t2o = edge["sequence_algo_tick_to_order_seconds"]
    assert t2o.type == "histogram"  # type: ignore[attr-defined]
    counts = [s for s in t2o.samples if s.name.endswith("_count") and s.labels["deployment"] == "mm"]  # type: ignore[attr-defined]
    assert counts and counts[0].value > 0
    callback = edge["sequence_algo_callback_latency_seconds"]
    assert "1 on_book call in 8" in callback.documentation  # type: ignore[attr-defined]
