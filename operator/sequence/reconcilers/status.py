"""Status helpers shared by every reconciler: conditions, bounded errors, minimal status patches.

Each reconcile pass produces a `Verdict` (lifecycle state plus the three conditions, each with a
reason and a message) and the kind's own fields. `new_status` turns that into the status object,
keeping `lastTransitionTime` of a condition whose status did not change, and `changes` keeps only
the changed top-level keys, so a pass that finds everything as it was writes nothing.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import Any, cast

import kopf
from pydantic import BaseModel

MAX_REASON = 128
logger = logging.getLogger("sequence.operator")
MAX_MESSAGE = 1024


def now() -> str:
    """RFC 3339, UTC, second precision (what Kubernetes writes)."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Cond:
    status: bool | None  # None = Unknown
    reason: str
    message: str = ""

    @property
    def status_text(self) -> str:
        return "Unknown" if self.status is None else str(self.status)


@dataclass(frozen=True)
class Verdict:
    lifecycle: str
    ready: Cond
    reconciling: Cond
    degraded: Cond
    error: dict[str, Any] | None = None


def bounded(text: str, limit: int = MAX_MESSAGE) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def error_info(reason: str, message: str, edge: str | None = None) -> dict[str, Any]:
    info = {"reason": bounded(reason, MAX_REASON), "message": bounded(message), "time": now()}
    if edge:
        info["edge"] = edge
    return info


def _conditions(
    verdict: Verdict, previous: list[dict[str, Any]], generation: int | None
) -> list[dict[str, Any]]:
    before = {c.get("type"): c for c in previous or []}
    out = []
    for kind, cond in (
        ("Ready", verdict.ready),
        ("Reconciling", verdict.reconciling),
        ("Degraded", verdict.degraded),
    ):
        old = before.get(kind, {})
        same = old.get("status") == cond.status_text
        out.append(
            {
                "type": kind,
                "status": cond.status_text,
                "reason": bounded(cond.reason, MAX_REASON),
                "message": bounded(cond.message),
                "lastTransitionTime": old.get("lastTransitionTime")
                if same and old.get("lastTransitionTime")
                else now(),
                "observedGeneration": generation,
            }
        )
    return out


def new_status(
    model: type[BaseModel],
    body: kopf.Body | dict[str, Any],
    previous: dict[str, Any],
    verdict: Verdict,
    fields: dict[str, Any],
) -> dict[str, Any]:
    """The full status for BODY after PREVIOUS: validated against the CRD's status model, camelCase."""
    generation = body.get("metadata", {}).get("generation")
    error = verdict.error
    old_error = previous.get("error")
    if (
        error
        and old_error
        and old_error.get("reason") == error["reason"]
        and old_error.get("message") == error["message"]
        and old_error.get("edge") == error.get("edge")
    ):
        error = old_error  # the same failure again: keep its first time, write nothing
    status = {
        **fields,
        "observedGeneration": generation,
        "lifecycleState": verdict.lifecycle,
        "conditions": _conditions(verdict, previous.get("conditions") or [], generation),
        "error": error,
    }
    # Round-trip through the model: a field the CRD does not know fails here, not in the API server.
    validated = model.model_validate(status)
    return validated.model_dump(by_alias=True, mode="json", exclude={"kopf"})


# Status fields that move on every poll while nothing a user acts on has changed. A change in these
# alone is written at most every statusRefreshInterval (Runtime.write_status); at 1,000 objects and a
# 5 s poll, writing them every pass would be ~200 etcd writes per second.
VOLATILE = frozenset({"lastHeartbeat", "lastSeen", "pnl", "feedLagMs", "p50Us", "p99Us"})


def settled(value: Any) -> Any:
    """VALUE without the VOLATILE keys, at any depth: what a user would see change."""
    if isinstance(value, dict):
        return {k: settled(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [settled(v) for v in value]
    return value


def changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The top-level keys of NEW that differ from OLD (a merge patch of .status)."""
    return {key: value for key, value in new.items() if old.get(key) != value}


def note(body: kopf.Body | dict[str, Any], reason: str, message: str, warning: bool = False) -> None:
    """A Kubernetes Event on BODY, and the same line in the operator's log."""
    meta = body.get("metadata", {})
    message = bounded(message)
    (logger.warning if warning else logger.info)(
        "%s %s/%s: %s: %s",
        body.get("kind", "object"),
        meta.get("namespace"),
        meta.get("name"),
        reason,
        message,
        # Structured fields for JSON logs (--log-format json): filter by object or reason.
        extra={
            "object": {
                "kind": body.get("kind"),
                "namespace": meta.get("namespace"),
                "name": meta.get("name"),
            },
            "reason": reason,
        },
    )
    # kopf.event, not kopf.info/warn: those drop events below settings.posting.level, which is set to
    # WARNING so that kopf's own per-handler log lines do not become Events.
    kopf.event(cast(kopf.Body, body), type="Warning" if warning else "Normal", reason=reason, message=message)


def post_transition(body: kopf.Body, old_state: str | None, verdict: Verdict) -> None:
    """One Event per lifecycle transition: Normal towards health, Warning towards trouble."""
    if old_state == verdict.lifecycle:
        return
    message = f"{old_state or 'New'} -> {verdict.lifecycle}: {verdict.ready.message}"
    note(body, verdict.lifecycle, message, warning=verdict.lifecycle in ("Degraded", "Failed"))


def ready_message(what: str, good: int, total: int) -> str:
    """E.g. "stopped as requested on 1/1 edges" (a fraction, so always the plural)."""
    return f"{what} on {good}/{total} edges"
