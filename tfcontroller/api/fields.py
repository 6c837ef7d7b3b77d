"""Typed reads from a spec dict that raise `SpecError` naming the field (`spec.vars[0].name`).

The CRD schema already rejects most mistakes at the API server, but objects also reach us from servers
that may not enforce it (older CRD versions, tests) and some rules cannot be expressed in a schema at
all, so the typed views check again and always say which field is wrong.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tfcontroller.api.duration import DurationError, parse_duration
from tfcontroller.api.errors import SpecError

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


@dataclass(frozen=True)
class Fields:
    """A mapping at `path` in the object, with typed getters."""

    data: Mapping[str, Any]
    path: str

    @classmethod
    def at(cls, value: Any, path: str) -> Fields:
        if value is None:
            return cls({}, path)
        if not isinstance(value, Mapping):
            raise SpecError(path, "must be an object")
        return cls(value, path)

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def field(self, key: str | int) -> str:
        return join(self.path, key)

    def obj(self, key: str, required: bool = False) -> Fields | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise SpecError(self.field(key), "Required value")
            return None
        return Fields.at(value, self.field(key))

    def str(self, key: str, default: str | None = None, required: bool = False, pattern: re.Pattern[str] | None = None,
            enum: Sequence[str] | None = None, max_len: int | None = None, non_empty: bool = False) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise SpecError(self.field(key), "Required value")
            return default
        if not isinstance(value, str):
            raise SpecError(self.field(key), f"must be a string, not {type(value).__name__}")
        if non_empty and not value:
            raise SpecError(self.field(key), "must not be empty")
        if enum is not None and value not in enum:
            raise SpecError(self.field(key), f"unsupported value {value!r}: supported values: {', '.join(enum)}")
        if max_len is not None and len(value) > max_len:
            raise SpecError(self.field(key), f"must be at most {max_len} characters")
        if pattern is not None and not pattern.match(value):
            raise SpecError(self.field(key), f"invalid value {value!r}: must match {pattern.pattern}")
        return value

    def req_str(self, key: builtins.str, **kwargs: Any) -> builtins.str:
        value = self.str(key, required=True, **kwargs)
        assert value is not None
        return value

    def name(self, key: builtins.str, required: bool = True, label: bool = False) -> builtins.str | None:
        """A Kubernetes object name (DNS subdomain) or namespace (`label=True`: DNS label)."""
        return self.str(key, required=required, pattern=DNS_LABEL if label else DNS_SUBDOMAIN,
                        max_len=63 if label else 253)

    def bool(self, key: builtins.str, default: bool = False) -> bool:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise SpecError(self.field(key), f"must be a boolean, not {type(value).__name__}")
        return value

    def duration(self, key: builtins.str, default: float | None = None, required: builtins.bool = False) -> float | None:
        """Seconds of a Go duration field; zero is refused for intervals and timeouts."""
        text = self.str(key, required=required)
        if text is None:
            return default
        try:
            seconds = parse_duration(text)
        except DurationError:
            raise SpecError(self.field(key), f"invalid duration {text!r}: use a Go duration such as 30s, 5m or 1h30m") from None
        if seconds <= 0:
            raise SpecError(self.field(key), "must be greater than zero")
        return seconds

    def list(self, key: builtins.str) -> list[Any]:
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise SpecError(self.field(key), "must be a list")
        return value

    def objects(self, key: builtins.str) -> builtins.list[Fields]:
        return [Fields.at(item, join(self.field(key), i)) for i, item in enumerate(self.list(key))]

    def strings(self, key: builtins.str) -> builtins.list[builtins.str]:
        items = self.list(key)
        for i, item in enumerate(items):
            if not isinstance(item, str) or not item:
                raise SpecError(join(self.field(key), i), "must be a non-empty string")
        return list(items)

    def exactly_one(self, *keys: builtins.str) -> builtins.str:
        """The one key of `keys` that is set; SpecError when none or several are."""
        present = [k for k in keys if k in self.data]
        if len(present) != 1:
            found = f" (found {', '.join(present)})" if present else ""
            raise SpecError(self.path, f"must set exactly one of: {', '.join(keys)}{found}")
        return present[0]


def unique_names(items: Sequence[Any], path: str, what: str = "name") -> None:
    """Refuse two list entries with the same `what` (the schema's list-map rule)."""
    seen: set[str] = set()
    for i, item in enumerate(items):
        value = getattr(item, what)
        if value in seen:
            raise SpecError(join(path, i), f"duplicate {what} {value!r}")
        seen.add(value)
