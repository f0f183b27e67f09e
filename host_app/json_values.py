"""The app's JSON reader (``app.json``): request bodies that PostgreSQL can store.

PostgreSQL's ``text`` and ``jsonb`` refuse the NUL character and lone UTF-16 surrogates (they are not
UTF-8), and ``jsonb`` refuses the non-finite numbers Python's json module lets through (``NaN``,
``Infinity``, and ``1e400``, which overflows to infinity). Such a value would pass the schemas and fail in
the driver: a 500 for the caller, and on the PBX relay's route an event it would send again for ever.
Refused where a body is parsed (``read_json_object`` parses with ``current_app.json``): 400 ``bad_json``
for the numbers (they are not JSON), 422 ``validation_error`` for the strings.
"""

from __future__ import annotations

import json
import math
from typing import Any

from flask.json.provider import DefaultJSONProvider

from host_app.integrations.contract import ApiError


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text} is out of range")
    return value


def unstorable(value: Any) -> str | None:
    """Why a parsed body cannot be stored, or None. Iterative: a deeply nested body must not recurse."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                return "a string contains a NUL character"
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "a string is not valid Unicode (a lone surrogate)"
    return None


class StorableJSONProvider(DefaultJSONProvider):
    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Raises ValueError (not JSON, NaN, out of range), RecursionError (too deep) or a 422 ApiError."""
        data = json.loads(s, parse_constant=_no_constant, parse_float=_finite, **kwargs)
        problem = unstorable(data)
        if problem is not None:
            raise ApiError(f"the body cannot be stored: {problem}", code="validation_error", status=422,
                           details={"_schema": [problem]})
        return data
