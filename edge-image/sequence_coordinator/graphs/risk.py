"""The four risk layers of a graph.

1. Admission, before any order leaves: the graph's estimated notional, its
   leverage against the equity of the accounts it may trade, and how many
   graphs run at once.
2. Pre-trade, before each order of a node: the node's notional, the account
   balance (when `require_balance_check`) and the slippage cap (enforced by
   the execution planner).
3. Runtime, after every fill and quote: unhedged quantity per underlying,
   loss and drawdown of the graph's PnL marked to the NBBO.
4. Failure actions (applied by the runtime) on a runtime breach or when an
   edge hosting a node disconnects.
"""

from __future__ import annotations

from sequence_wire.graphs import ExecutionGraphSpec, GraphNode

from .market import Market
from .model import SCALE, GraphRuntime, NodeRuntime
from .port import AccountSnapshot


def underlying(symbol: str) -> str:
    """Spot and perp legs on the same asset share an underlying: ETH-USD-PERP -> ETH-USD."""
    return symbol.removesuffix("-PERP")


def _reference_price(node: GraphNode, market: Market) -> float | None:
    if node.limit_price is not None:
        return node.limit_price
    mid = market.mid_1e8(node.symbol)
    return None if mid is None else mid / SCALE


def estimated_quantities(spec: ExecutionGraphSpec, market: Market) -> dict[str, float]:
    """The most each node may trade: its qty, or for derived nodes the sizing applied to
    the parent's full target (so a graph is judged on what it could do, not on luck)."""
    qty: dict[str, float] = {n: node.qty for n, node in spec.nodes.items() if not node.derived}
    pending = [n for n, node in spec.nodes.items() if node.derived]
    while pending:  # the graph is acyclic: each pass resolves at least one node
        progressed = False
        for name in list(pending):
            incoming = [e for e in spec.edges if e.to == name]
            if any(e.from_ not in qty for e in incoming):
                continue
            total = 0.0
            for e in incoming:
                parent, sizing = qty[e.from_], e.sizing
                if isinstance(sizing, dict):
                    ((kind, value),) = sizing.items()
                    if kind == "linear_hedge":
                        parent = abs(value) * parent
                    elif kind == "fixed":
                        parent = value
                    elif kind == "scaled_notional":
                        src = _reference_price(spec.nodes[e.from_], market)
                        dst = _reference_price(spec.nodes[name], market)
                        notional = parent * (src or 0.0) * value["multiplier"]
                        if value.get("cap_usd") is not None:
                            notional = min(notional, value["cap_usd"])
                        parent = notional / dst if dst else 0.0
                total += parent
            qty[name] = total
            pending.remove(name)
            progressed = True
        if not progressed:
            break
    return qty


def admission_problems(
    spec: ExecutionGraphSpec,
    market: Market,
    accounts: dict[str, AccountSnapshot | None],
    running_graphs: int,
) -> list[str]:
    """Layer 1: reasons to refuse the graph before it starts (empty: admitted)."""
    limits = spec.risk.admission
    problems: list[str] = []
    if limits.max_concurrent_graphs is not None and running_graphs >= limits.max_concurrent_graphs:
        problems.append(
            f"max_concurrent_graphs {limits.max_concurrent_graphs} reached ({running_graphs} running)"
        )
    if spec.sandbox:
        for name, node in spec.nodes.items():
            if node.venue is not None and market.is_paper(node.venue) is False:
                problems.append(f"node {name!r}: venue {node.venue!r} is live but the graph is sandbox")
    if limits.max_notional_usd is None and limits.max_leverage is None:
        return problems
    notional = 0.0
    for name, qty in estimated_quantities(spec, market).items():
        price = _reference_price(spec.nodes[name], market)
        if price is None:
            problems.append(f"node {name!r}: no price for {spec.nodes[name].symbol} to check the notional")
            continue
        notional += qty * price
    if limits.max_notional_usd is not None and notional > limits.max_notional_usd:
        problems.append(f"notional ${notional:,.2f} exceeds max_notional_usd ${limits.max_notional_usd:,.2f}")
    if limits.max_leverage is not None:
        equity = sum(a.equity_usd for a in accounts.values() if a is not None)
        if equity <= 0:
            problems.append("max_leverage is set but no account equity is known for the graph's venues")
        elif notional / equity > limits.max_leverage:
            problems.append(
                f"leverage {notional / equity:.2f}x (${notional:,.2f} on ${equity:,.2f} equity) "
                f"exceeds max_leverage {limits.max_leverage}x"
            )
    return problems


def pretrade_problem(
    spec: ExecutionGraphSpec,
    node_spec: GraphNode,
    node: NodeRuntime,
    qty_1e8: int,
    price_1e8: int,
    account: AccountSnapshot | None,
) -> str | None:
    """Layer 2, before an order of `qty_1e8` at `price_1e8`: a reason to refuse, or None."""
    limits = spec.risk.pre_trade
    if limits.max_node_notional_usd is not None:
        notional = (node.filled_1e8 + qty_1e8) * price_1e8 / (SCALE * SCALE)
        if notional > limits.max_node_notional_usd:
            return f"node notional ${notional:,.2f} exceeds max_node_notional_usd ${limits.max_node_notional_usd:,.2f}"
    if limits.require_balance_check:
        if account is None:
            return "require_balance_check: the venue reported no account"
        cost = qty_1e8 * price_1e8 / (SCALE * SCALE)
        if node_spec.perp:
            margin = cost / (spec.risk.admission.max_leverage or 1.0)
            if account.available_usd < margin:
                return f"balance check: ${account.available_usd:,.2f} available, ${margin:,.2f} margin needed"
        elif node_spec.side == "buy":
            if account.available_usd < cost:
                return f"balance check: ${account.available_usd:,.2f} available, ${cost:,.2f} needed"
        else:
            held = account.positions_1e8.get(node_spec.symbol, 0)
            if held < qty_1e8:
                return (
                    f"balance check: holds {held / SCALE:g} {node_spec.symbol}, selling {qty_1e8 / SCALE:g}"
                )
    return None


def mark_pnl(graph: GraphRuntime, market: Market) -> float:
    """Cash from fills plus positions marked to the NBBO (longs at the bid, shorts at the ask)."""
    pnl = graph.cash_usd
    for symbol, pos in graph.positions_1e8.items():
        if not pos:
            continue
        touch = market.touch(symbol)
        mark = touch.bid_1e8 if pos > 0 else touch.ask_1e8
        mark = mark or touch.mid_1e8 or graph.last_price_1e8.get(symbol, 0)
        pnl += pos * mark / (SCALE * SCALE)
    return pnl


def runtime_breaches(graph: GraphRuntime, market: Market) -> list[tuple[str, str]]:
    """Layer 3: (kind, message) for every limit the graph is past now; updates its PnL."""
    limits = graph.spec.risk.runtime
    if not graph.positions_1e8:
        return []  # nothing filled yet: no PnL, nothing unhedged
    pnl = mark_pnl(graph, market)
    if pnl != graph.pnl_usd:
        graph.pnl_usd = pnl
    if pnl > graph.peak_pnl_usd:
        graph.peak_pnl_usd = pnl
    found: list[tuple[str, str]] = []
    if limits.max_unhedged_qty is not None:
        net: dict[str, int] = {}
        for symbol, pos in graph.positions_1e8.items():
            net[underlying(symbol)] = net.get(underlying(symbol), 0) + pos
        for asset, qty in sorted(net.items()):
            if abs(qty) > limits.max_unhedged_qty * SCALE:
                found.append(
                    (
                        f"max_unhedged_qty:{asset}",
                        f"unhedged {qty / SCALE:g} {asset} exceeds max_unhedged_qty {limits.max_unhedged_qty:g}",
                    )
                )
    if limits.max_loss_usd is not None and graph.pnl_usd < -limits.max_loss_usd:
        found.append(
            ("max_loss_usd", f"loss ${-graph.pnl_usd:,.2f} exceeds max_loss_usd ${limits.max_loss_usd:,.2f}")
        )
    drawdown = graph.peak_pnl_usd - graph.pnl_usd
    if limits.max_drawdown_usd is not None and drawdown > limits.max_drawdown_usd:
        found.append(
            (
                "max_drawdown_usd",
                f"drawdown ${drawdown:,.2f} exceeds max_drawdown_usd ${limits.max_drawdown_usd:,.2f}",
            )
        )
    return found
