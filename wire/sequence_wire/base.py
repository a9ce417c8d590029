"""Base classes of the control APIs' JSON bodies."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Request(BaseModel):
    """A request body: unknown fields are refused (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid")


class Reply(BaseModel):
    """A response body. Clients keep fields a newer server adds (`model_extra`); a server may
    only send declared fields (`to_json` refuses anything else), so the shape cannot drift."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def as_dict(self) -> dict[str, Any]:
        """The body as JSON data, exactly the keys the server sent (extras included)."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)

    def to_json(self) -> Any:
        undeclared = _undeclared(self)
        if undeclared:
            raise TypeError(f"{type(self).__name__} carries undeclared field(s) {undeclared}")
        # unset fields stay off the wire: optional keys (removed, queue_ahead, missing_labels...)
        # appear only where the server set them
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class OpenReply(Reply):
    """A reply whose extra keys are part of the shape (adapter-specific settings)."""


def _undeclared(model: BaseModel, where: str = "") -> list[str]:
    found: list[str] = []
    if model.model_extra and not isinstance(model, OpenReply):
        found += [f"{where}{key}" for key in model.model_extra]
    for name in type(model).model_fields:
        found += _walk(getattr(model, name), f"{where}{name}.")
    return found


def _walk(value: Any, where: str) -> list[str]:
    if isinstance(value, BaseModel):
        return _undeclared(value, where)
    if isinstance(value, list):
        return [f for item in value for f in _walk(item, where)]
    if isinstance(value, dict):
        return [f for item in value.values() for f in _walk(item, where)]
    return []
