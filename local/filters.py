"""Event filtering as Lambda's event source mappings do it (`FilterCriteria`): a record goes to the
function when any filter's pattern matches it, and is dropped (never retried) otherwise.

The patterns are EventBridge's: a pattern's keys must all match; an object recurses, a list lists
the alternatives for a value (a list value matches when any of its items does). The alternatives
understood are plain values and `prefix`, `suffix`, `exists`, `anything-but` and `equals-ignore-case`;
any other raises rather than guess, so a template that needs one shows up here first.
"""

from __future__ import annotations

import json
from typing import Any

_MISSING = object()


def _leaf(alternatives: list[Any], value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    return any(_alternative(option, value, v) for option in alternatives for v in values or [_MISSING])


def _alternative(option: Any, whole: Any, value: Any) -> bool:
    if not isinstance(option, dict):
        return value is not _MISSING and option == value
    ((operator, argument),) = option.items()
    if operator == "exists":
        return (whole is not _MISSING) == bool(argument)
    if value is _MISSING:
        return False
    if operator == "prefix":
        return isinstance(value, str) and value.startswith(argument)
    if operator == "suffix":
        return isinstance(value, str) and value.endswith(argument)
    if operator == "equals-ignore-case":
        return isinstance(value, str) and value.lower() == str(argument).lower()
    if operator == "anything-but":
        excluded = argument if isinstance(argument, list) else [argument]
        return value not in excluded
    raise NotImplementedError(f"filter operator {operator!r} is not supported by the local stack")


def matches(pattern: dict[str, Any], record: Any) -> bool:
    for key, wanted in pattern.items():
        value = record.get(key, _MISSING) if isinstance(record, dict) else _MISSING
        if isinstance(wanted, dict):
            if not isinstance(value, dict) or not matches(wanted, value):
                return False
        elif not _leaf(wanted, value):
            return False
    return True


def record_filter(props: dict[str, Any]) -> Any:
    """The predicate a mapping's `FilterCriteria` gives (everything passes without one)."""
    patterns = [json.loads(f["Pattern"]) for f in props.get("FilterCriteria", {}).get("Filters", [])]
    if not patterns:
        return lambda record: True
    return lambda record: any(matches(p, record) for p in patterns)
