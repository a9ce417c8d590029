"""Risk limits that cannot be switched off by accident, against a real `sequence edge`.

Every limit must be finite and representable in 1e8 fixed point; a deployment without limits gets
the edge's defaults (shown in its status); trading without limits is an explicit opt-out the edge
must allow; a refused push changes nothing (books, instances, status).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sequence_edge.algo import abi
from sequence_edge.edge_policy import BUILTIN_DEFAULT_RISK
from sequence_edge.engine import Engine

from .conftest import run_cli
from .test_edge_process import MM, MM_RISK, RAW, EdgeProcess, push_body, summary, wait_for

F = abi.to_fixed


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdgeProcess]:
    proc = EdgeProcess(
        tmp_path_factory.mktemp("risk"), "--venue", "kraken", "--seed", "5", "--symbols", "BTC-USD"
    )
    yield proc
    proc.stop()


def snapshot(edge: EdgeProcess) -> tuple[Any, ...]:
    """What a refused push must leave as it was: books, deployments, each one's status basics."""
    info = edge.http.get("/v1/edge").json()
    statuses = [
        (d["deployment_id"], d["state"], d["bundle_sha256"], d["risk"], d["symbols"])
        for d in edge.http.get("/v1/deployments").json()
    ]
    return info["symbols"], info["deployments"], statuses


def raw_put(edge: EdgeProcess, dep_id: str, text: str) -> Any:
    return edge.http.put(
        f"/v1/deployments/{dep_id}", content=text.encode(), headers={"Content-Type": "application/json"}
    )


BAD_RISK = [
    ({"max_position": 1e-9}, "rounds to 0"),
    ({"max_order_qty": 1e300}, "too large"),
    ({"max_notional": 1e11}, "too large"),
    ({"max_loss": 92233720368.6}, "too large"),
    ({"price_band_bps": 1e-12}, "rounds to 0"),
    ({"max_open_orders": 10**30}, "max_open_orders"),
]


@pytest.mark.parametrize(("risk", "needle"), BAD_RISK)
def test_unrepresentable_limits_are_refused_and_change_nothing(
    edge: EdgeProcess, risk: dict[str, Any], needle: str
) -> None:
    assert edge.push("mm", MM, risk=MM_RISK).status_code in (200, 201)
    before = snapshot(edge)
    for dep_id, symbols in (("fresh", ["ETH-USD"]), ("mm", ["BTC-USD"])):  # new id (new book), re-push
        resp = edge.push(dep_id, MM, risk=risk, symbols=symbols)
        assert 400 <= resp.status_code < 500, resp.text
        assert resp.json()["error"]["reason"] in ("InvalidRisk", "InvalidPush")
        assert needle in resp.json()["error"]["message"]
    assert snapshot(edge) == before
    assert "ETH-USD" not in edge.http.get("/v1/edge").json()["symbols"]


@pytest.mark.parametrize("literal", ["Infinity", "-Infinity", "NaN", "1e400"])
def test_non_finite_json_numbers_are_refused_with_4xx(edge: EdgeProcess, literal: str) -> None:
    body = json.dumps(push_body(RAW, symbols=["SOL-USD"]))[:-1]
    before = snapshot(edge)
    for field in ("max_position", "max_notional"):
        resp = raw_put(edge, "inf", body + f', "risk": {{"{field}": {literal}}}}}')
        assert 400 <= resp.status_code < 500, resp.text
    resp = raw_put(edge, "inf", body + f', "params": {{"x": {literal}}}}}')
    assert 400 <= resp.status_code < 500, resp.text
    assert snapshot(edge) == before


def test_huge_params_are_refused_with_4xx(edge: EdgeProcess) -> None:
    before = snapshot(edge)
    body = json.dumps(push_body(RAW))[:-1]
    for params in ['{"x": ' + "9" * 5000 + "}", '{"x": "' + "a" * 100_000 + '"}', '{"' + "k" * 300 + '": 1}']:
        resp = raw_put(edge, "params", body + f', "params": {params}}}')
        assert 400 <= resp.status_code < 500, resp.text
    many = {f"p{i}": i for i in range(300)}
    assert edge.push("params", RAW, params=many).status_code == 400
    assert snapshot(edge) == before


def test_a_push_without_limits_gets_the_edge_defaults_shown_in_status(edge: EdgeProcess) -> None:
    resp = edge.push("plain", RAW)
    assert resp.status_code == 201, resp.text
    risk = resp.json()["risk"]
    assert risk["source"] == "edge-default"
    assert risk["limits"] == BUILTIN_DEFAULT_RISK
    resp = edge.push("partial", RAW, risk={"max_order_qty": 0.5})
    risk = resp.json()["risk"]
    assert risk["source"] == "deployment"
    assert risk["limits"] == {**BUILTIN_DEFAULT_RISK, "max_order_qty": 0.5}
    assert "max_order_qty" not in risk["from_edge_default"] and "max_position" in risk["from_edge_default"]


def test_unlimited_risk_is_an_explicit_opt_out_the_edge_must_allow(edge: EdgeProcess, tmp_path: Path) -> None:
    before = snapshot(edge)
    resp = edge.push("wild", RAW, risk={"unlimited": True})
    assert resp.status_code == 403 and resp.json()["error"]["reason"] == "UnlimitedRiskRefused"
    assert "--allow-unlimited-risk" in resp.json()["error"]["message"]
    resp = edge.push("wild", RAW, risk={"unlimited": True, "max_position": 1})
    assert resp.status_code == 400
    assert snapshot(edge) == before
    permissive = EdgeProcess(tmp_path, "--venue", "kraken", "--allow-unlimited-risk")
    try:
        resp = permissive.push("wild", RAW, risk={"unlimited": True})
        assert resp.status_code == 201, resp.text
        assert resp.json()["risk"] == {"source": "unlimited", "limits": {}, "from_edge_default": []}
    finally:
        permissive.stop()


def test_edge_default_risk_flags_are_enforced(tmp_path: Path) -> None:
    # raw_algo bids 0.01 BTC at 100 on every update: a 0.001 default max_order_qty refuses each one
    edge = EdgeProcess(
        tmp_path,
        "--venue",
        "kraken",
        "--symbols",
        "BTC-USD",
        "--default-risk",
        '{"max_order_qty": 0.001, "max_position": 1}',
        "--default-max-loss",
        "50",
    )
    try:
        resp = edge.push("raw", RAW)
        assert resp.status_code == 201, resp.text
        assert resp.json()["risk"]["limits"] == {"max_order_qty": 0.001, "max_position": 1, "max_loss": 50.0}
        status = wait_for(lambda: (s := edge.status("raw"))["rejects"] > 0 and s, what="a risk reject")
        assert status["rejects_by_reason"] == {"MAX_ORDER_QTY": status["rejects"]}
        assert status["open_orders"] == 0
    finally:
        edge.stop()


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--default-risk", '{"max_position": 1e-9}'], "rounds to 0"),
        (["--default-risk", '{"max_lots": 1}'], "unknown limit"),
        (["--default-risk", "[1]"], "JSON object"),
        (["--default-max-notional", "1e11"], "too large"),
        (["--default-max-position", "inf"], "finite"),
    ],
)
def test_bad_default_risk_flags_exit_2(flags: list[str], needle: str) -> None:
    result = run_cli("edge", "--venue", "kraken", "--port", "0", *flags)
    assert result.returncode == 2, result.stderr
    assert needle in result.stderr


def test_a_refused_re_push_leaves_the_running_instance_trading(edge: EdgeProcess) -> None:
    assert edge.push("mm", MM, risk=MM_RISK).status_code in (200, 201)
    wait_for(lambda: edge.status("mm")["callbacks"] > 0, what="callbacks")
    before = snapshot(edge)
    assert edge.push("mm", MM, risk={"max_notional": 1e11}).status_code == 400
    callbacks = edge.status("mm")["callbacks"]
    wait_for(lambda: edge.status("mm")["callbacks"] > callbacks, what="the same instance's callbacks")
    assert snapshot(edge) == before
    assert edge.status("mm")["risk"]["limits"] == {**BUILTIN_DEFAULT_RISK, **MM_RISK}
    assert summary(edge)


def test_an_amend_is_checked_on_the_orders_total_quantity() -> None:
    eng = Engine(trace_salt=1)
    eng.add_book("BTC-USD")
    eng.snapshot("BTC-USD", [(F(100), F(2))], [(F(101), F(1)), (F(102), F(4))])
    acct = eng.open_account("d1", ["BTC-USD"], risk={"max_order_qty": 2})
    acct.place(abi.SIDE_BUY, abi.ORDER_LIMIT, 1, F(101), F(2))  # 1 fills at 101, 1 rests
    [order] = acct.open_orders()
    assert order["filled_1e8"] == F(1)
    acct.drain_events()
    acct.amend(1, F(101), F(2.5))  # only 1.5 left to fill, but the order would total 2.5
    events = acct.drain_events()
    assert [e["reason"] for kind, e in events if kind == "reject"] == ["MAX_ORDER_QTY"]
    assert acct.open_orders()[0]["qty_1e8"] == F(2)
    acct.amend(1, F(101), F(1.8))  # a total within the limit is fine
    assert acct.open_orders()[0]["qty_1e8"] == F(1.8)
