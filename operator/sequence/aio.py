"""`sequence.aio`: the SDK for asyncio, with the names and shapes of `sequence.connect()`.

    import asyncio
    import sequence.aio

    async def main() -> None:
        seq = await sequence.aio.connect()
        print(await seq.algos())

    asyncio.run(main())

The calls are the operations of sdk_ops.py, as in the blocking twin; here their HTTP steps go
through the asyncio clients and their Kubernetes steps run in a worker thread.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from .client import AsyncEdgeClient
from .sdk import WAIT_S, resolve
from .sdk_core import (
    Blocking,
    Deployment,
    DeploymentEdge,
    Done,
    Http,
    Logs,
    Op,
    Pause,
    SequenceError,
    advance,
    handed_back,
)
from .sdk_ops import Connection

__all__ = ["Deployment", "DeploymentEdge", "Sequence", "SequenceError", "connect"]

T = TypeVar("T")


async def run(op: Op[T], token: str | None) -> T:
    """Run OP: every step it yields is awaited here, its answer (or its error) sent back in."""
    answer: Any = None
    error: Exception | None = None
    while not isinstance(step := advance(op, answer, error), Done):
        answer, error = None, None
        try:
            answer = await _do(step, token)
        except Exception as exc:
            error = handed_back(step, exc)
    return step.value  # type: ignore[no-any-return]


async def _do(step: Any, token: str | None) -> Any:
    if isinstance(step, Http):
        async with AsyncEdgeClient(step.url, token=token, timeout=step.timeout) as client:
            return await client._send(step.call)
    if isinstance(step, Logs):
        async with AsyncEdgeClient(step.url, token=token) as client:
            return [line async for line in client.logs(step.deployment_id, tail=step.n)]
    if isinstance(step, Blocking):
        return await asyncio.to_thread(step.fn, *step.args)
    if isinstance(step, Pause):
        await asyncio.sleep(step.seconds)
        return None
    raise TypeError(f"unknown step {step!r}")


class Sequence(Connection):
    """`sequence.Sequence` for asyncio: the same calls, awaited. Use `await sequence.aio.connect()`."""

    async def _run(self, op: Op[T]) -> T:
        return await run(op, self.token)

    async def __aenter__(self) -> Sequence:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    # ------------------------------------------------------------ deployment-keyed

    async def deploy_algo(
        self,
        name: str,
        wasm_bytes: bytes,
        symbols: list[str],
        venue: str | None = None,
        risk: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        *,
        state: str = "Stopped",
        runtime: str = "wasm",
        label: str | None = None,
        wait: float = WAIT_S,
    ) -> Deployment:
        return await self._run(
            self.ops.deploy_algo(name, wasm_bytes, symbols, venue, risk, params, state, runtime, label, wait)
        )

    async def algo_status(self, name: str) -> dict[str, Any]:
        return await self._run(self.ops.algo_status(name))

    async def algo_start(self, name: str, wait: float = WAIT_S) -> dict[str, Any]:
        return await self._run(self.ops.algo_start(name, wait))

    async def algo_stop(self, name: str, wait: float = WAIT_S) -> dict[str, Any]:
        return await self._run(self.ops.algo_stop(name, wait))

    async def algo_undeploy(self, name: str, wait: float = WAIT_S) -> dict[str, Any]:
        return await self._run(self.ops.algo_undeploy(name, wait))

    async def algo_logs(self, name: str, n: int = 100) -> list[dict[str, Any]]:
        return await self._run(self.ops.algo_logs(name, n))

    async def algo_mesh(self, name: str) -> dict[str, Any]:
        return await self._run(self.ops.algo_mesh(name))

    async def algo_metrics(self, name: str) -> dict[str, Any]:
        return await self._run(self.ops.algo_metrics(name))

    async def deployments(self) -> list[dict[str, Any]]:
        return await self._run(self.ops.statuses())

    # ------------------------------------------------------------ symbol-keyed (legacy)

    async def algos(self) -> list[dict[str, Any]]:
        return await self._run(self.ops.algos())

    async def algos_per_edge(self) -> list[dict[str, Any]]:
        return await self._run(self.ops.algos(per_edge=True))

    async def algo(self, symbol: str) -> dict[str, Any]:
        return await self._run(self.ops.algo(symbol))

    async def algo_start_by_symbol(self, symbol: str, wait: float = WAIT_S) -> dict[str, Any]:
        return await self._run(self.ops.algo_start_by_symbol(symbol, wait))

    async def algo_stop_by_symbol(self, symbol: str, wait: float = WAIT_S) -> dict[str, Any]:
        return await self._run(self.ops.algo_stop_by_symbol(symbol, wait))

    async def algo_logs_by_symbol(self, symbol: str, n: int = 100) -> list[dict[str, Any]]:
        return await self._run(self.ops.algo_logs_by_symbol(symbol, n))

    async def algo_stats(self, symbol: str) -> dict[str, Any]:
        return await self._run(self.ops.algo_stats(symbol))


async def connect(
    url: str | None = None,
    token: str | None = None,
    *,
    project: str | Path = ".",
    target: str = "auto",
    namespace: str | None = None,
    context: str | None = None,
) -> Sequence:
    """`sequence.connect()` for asyncio (the target is found in a worker thread: it reads files and
    may ask an edge or the kubeconfig)."""
    ops, sent_token = await asyncio.to_thread(resolve, url, token, project, target, namespace, context)
    return Sequence(ops, sent_token)
