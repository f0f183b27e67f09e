"""Parsing references to other entities in request bodies (both APIs)."""
from __future__ import annotations

from typing import Any

from .errors import ApiError, bad_format
from .model import Account, Ref
from .util import is_uuid, parse_entity_href


def parse_ref(account: Account, value: Any, expected: tuple[str, ...], parameter: str) -> Ref:
    """A reference as `{"meta": {...}}` (JSON API) or a bare meta object (Phone API call bodies); both are
    accepted everywhere because clients mix them up. The href host is not checked, only its path
    (`/entity/<type>/<uuid>`), its agreement with `type`, and that the entity exists in the account."""
    if not isinstance(value, dict):
        raise bad_format(parameter)
    ref_meta = value["meta"] if isinstance(value.get("meta"), dict) else value
    href, ref_type = ref_meta.get("href"), ref_meta.get("type")
    if not href:
        raise ApiError(400, 2010, parameter=parameter)
    if not ref_type:
        raise ApiError(400, 2011, parameter=parameter)
    if ref_type not in expected:
        raise ApiError(400, 1060, parameter=parameter)
    parsed = parse_entity_href(str(href))
    if parsed is None or parsed[0] != ref_type or not is_uuid(parsed[1]):
        raise ApiError(400, 2013, parameter=parameter)
    entity_id = parsed[1].lower()
    if account.get(ref_type, entity_id) is None:
        raise ApiError(400, 2013, f"Ошибка формата: объект по ссылке в поле '{parameter}' не найден",
                       parameter=parameter)
    return Ref(ref_type, entity_id)
