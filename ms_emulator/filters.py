"""The `filter=` grammar shared by both APIs.

`field<op>value` conditions separated by `;` (a literal `;` is written `\\;`). Operators `= != > < >= <=`
and the like-operators `~` (contains), `~=` (starts with), `=~` (ends with), which are case-insensitive
and work on string fields only. Repeated `=` on one field is OR, repeated `!=` is AND, mixing `=` with
an inequality on the same field is an error (1034); different fields are ANDed. `field=` matches null or
empty, `field!=` non-empty. The like-operators match the *stored string*: `phone~9161234567` does not
match `+7 (916) 123-45-67` (that is the documented semantics).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable, TypeVar

from .errors import ApiError
from .model import Ref
from .util import parse_dt, parse_entity_href

T = TypeVar("T")
OPERATORS = ("!=", "~=", "=~", ">=", "<=", "=", "~", ">", "<")
LIKE = ("~", "~=", "=~")


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: str


@dataclass(frozen=True)
class FieldSpec:
    kind: str  # string | strlist | bool | ref | datetime | number
    get: Callable[[Any], Any]


def _filter_error(detail: str) -> ApiError:
    return ApiError(400, 1034, detail=detail, parameter="filter")


def split_conditions(text: str) -> list[str]:
    parts, current, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] == ";":
            current.append(";")
            i += 2
            continue
        if ch == ";":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return [p for p in parts if p != ""]


def parse_filter(text: str) -> list[Condition]:
    conditions = []
    for part in split_conditions(text):
        pos = next((i for i, ch in enumerate(part) if ch in "=!~<>"), -1)
        if pos <= 0:
            raise _filter_error(f"неверное условие '{part}'")
        op = next((o for o in OPERATORS if part.startswith(o, pos)), None)
        if op is None:
            raise _filter_error(f"неверный оператор в условии '{part}'")
        conditions.append(Condition(part[:pos].strip(), op, part[pos + len(op):]))
    return conditions


def apply_filter(items: Iterable[T], text: str | None, fields: dict[str, FieldSpec]) -> list[T]:
    rows = list(items)
    if not text:
        return rows
    by_field: dict[str, list[Condition]] = {}
    for cond in parse_filter(text):
        spec = fields.get(cond.field)
        if spec is None:
            raise _filter_error(f"поле '{cond.field}' не поддерживает фильтрацию")
        if cond.op in LIKE and spec.kind not in ("string", "strlist"):
            raise _filter_error(f"оператор '{cond.op}' не применим к полю '{cond.field}'")
        by_field.setdefault(cond.field, []).append(cond)
    for name, conds in by_field.items():
        ops = {c.op for c in conds}
        if "=" in ops and ops - {"="}:
            raise _filter_error(f"нельзя смешивать '=' и другие операторы для поля '{name}'")
        spec = fields[name]
        matchers = [_matcher(spec, c) for c in conds]
        if ops == {"="}:
            rows = [r for r in rows if any(m(spec.get(r)) for m in matchers)]
        else:
            rows = [r for r in rows if all(m(spec.get(r)) for m in matchers)]
    return rows


def _matcher(spec: FieldSpec, cond: Condition) -> Callable[[Any], bool]:
    op, raw = cond.op, cond.value
    if raw == "" and op in ("=", "!="):
        want_empty = op == "="
        return lambda v: _is_empty(v) == want_empty
    if spec.kind in ("string", "strlist"):
        return _string_matcher(op, raw, spec.kind == "strlist")
    if spec.kind == "bool":
        if raw not in ("true", "false"):
            raise _filter_error(f"значение '{raw}' поля '{cond.field}' должно быть true или false")
        want = raw == "true"
        return _compare(op, lambda v: bool(v), want)
    if spec.kind == "ref":
        parsed = parse_entity_href(raw)
        if parsed is None:
            raise _filter_error(f"значение поля '{cond.field}' должно быть ссылкой href")
        return _compare(op, lambda v: v.id if isinstance(v, Ref) else None, parsed[1])
    if spec.kind == "datetime":
        want_dt = parse_dt(raw, allow_minutes=True)
        if want_dt is None:
            raise ApiError(400, 1035, f"Неверный формат даты в фильтре: '{raw}'", parameter="filter")
        return _compare(op, _as_dt, want_dt)
    try:
        want_num = float(raw)
    except ValueError:
        raise _filter_error(f"значение '{raw}' поля '{cond.field}' должно быть числом") from None
    return _compare(op, lambda v: float(v) if v is not None else None, want_num)


def _string_matcher(op: str, raw: str, is_list: bool) -> Callable[[Any], bool]:
    needle = raw.lower()
    tests: dict[str, Callable[[str], bool]] = {
        "=": lambda s: s == raw,
        "!=": lambda s: s != raw,
        "~": lambda s: needle in s.lower(),
        "~=": lambda s: s.lower().startswith(needle),
        "=~": lambda s: s.lower().endswith(needle),
        ">": lambda s: s > raw, "<": lambda s: s < raw, ">=": lambda s: s >= raw, "<=": lambda s: s <= raw,
    }
    test = tests[op]

    def match(value: Any) -> bool:
        values = [str(v) for v in (value or [])] if is_list else ([] if value is None else [str(value)])
        if op == "!=":
            return all(test(v) for v in values)
        return any(test(v) for v in values)

    return match


def _compare(op: str, extract: Callable[[Any], Any], want: Any) -> Callable[[Any], bool]:
    def match(value: Any) -> bool:
        got = extract(value)
        if op == "=":
            return got == want
        if op == "!=":
            return got != want
        if got is None:
            return False
        return {">": got > want, "<": got < want, ">=": got >= want, "<=": got <= want}[op]

    return match


def _as_dt(value: Any) -> datetime | None:
    return parse_dt(value) if isinstance(value, str) else value


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == []
