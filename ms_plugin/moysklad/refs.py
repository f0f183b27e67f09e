"""Hrefs, meta references and the tolerant field readers the models are built with.

MoySklad references an entity by ``{"meta": {"href", "type", "mediaType"}}`` (JSON API bodies), or by the
*bare* meta object (the Phone API's call ``employee``/``counterparty``); ids are the last path segment
of ``meta.href``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from ms_plugin.moysklad.errors import MalformedResponse

MEDIA_TYPE = "application/json"


# ------------------------------------------------------------------------------------------- hrefs


def entity_href(base: str, kind: str, entity_id: str) -> str:
    """``{base}/entity/{kind}/{id}``, e.g. a counterparty of the JSON API."""
    return f"{base.rstrip('/')}/entity/{kind}/{entity_id}"


def meta_ref(base: str, kind: str, entity_id: str) -> dict[str, Any]:
    """The JSON API's reference form ``{"meta": {"href", "type", "mediaType"}}``."""
    return {"meta": bare_meta(base, kind, entity_id)}


def bare_meta(base: str, kind: str, entity_id: str) -> dict[str, str]:
    """The Phone API's *bare* meta for a call's ``employee``/``counterparty`` (hrefs into the JSON API)."""
    return {"href": entity_href(base, kind, entity_id), "type": kind, "mediaType": MEDIA_TYPE}


def href_ref(href: str, kind: str) -> dict[str, Any]:
    """A reference from a known href (states live at ``.../customerorder/metadata/states/{id}``)."""
    return {"meta": {"href": href, "type": kind, "mediaType": MEDIA_TYPE}}


def id_from_href(href: Any) -> str | None:
    if not isinstance(href, str) or not href:
        return None
    path = urlsplit(href).path.rstrip("/")
    segment = path.rsplit("/", 1)[-1]
    return segment or None


def meta_of(obj: Any) -> Mapping[str, Any]:
    """The meta of a wrapped (``{"meta": {...}}``) or bare (``{"href": ...}``) reference."""
    if not isinstance(obj, Mapping):
        return {}
    inner = obj.get("meta")
    if isinstance(inner, Mapping):
        return inner
    return obj if "href" in obj else {}


def ref_id(obj: Any) -> str | None:
    """The id of a reference in either shape (or of an expanded object carrying ``id``)."""
    if isinstance(obj, Mapping) and isinstance(obj.get("id"), str) and obj["id"]:
        return str(obj["id"])
    return id_from_href(meta_of(obj).get("href"))


def opt_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value)
    return text if text != "" else None


def opt_bool(data: Mapping[str, Any], key: str, default: bool = False) -> bool:
    value = data.get(key)
    return value if isinstance(value, bool) else default


def opt_int(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    if isinstance(value, bool):
        return None
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def as_object(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise MalformedResponse(f"expected a JSON object for {what}, got {type(data).__name__}")
    return data


def required_id(data: Mapping[str, Any], what: str) -> str:
    value = opt_str(data, "id") or id_from_href(meta_of(data).get("href"))
    if not value:
        raise MalformedResponse(f"{what} without an id")
    return value


def meta_href(data: Mapping[str, Any]) -> str | None:
    href = meta_of(data).get("href")
    return str(href) if isinstance(href, str) else None


def rows(data: Any, what: str) -> list[Mapping[str, Any]]:
    """The ``rows`` of a list answer (a bare array is accepted too)."""
    if isinstance(data, list):
        items = data
    else:
        items = as_object(data, what).get("rows")
        if not isinstance(items, list):
            raise MalformedResponse(f"{what}: a list answer without rows")
    return [item for item in items if isinstance(item, Mapping)]


# ------------------------------------------------------------------------------------- URL encoding

_QUERY_SAFE = "=;,~!:/"  # readable filters and hrefs; "+", " ", "&", "#", "%" are always percent-encoded


def seg(value: str) -> str:
    """A percent-encoded path segment (external ids may hold '/', '?', '#', spaces)."""
    return quote(str(value), safe="")


def encode_query(query: Mapping[str, str]) -> str:
    """``k=v&...`` with ``+`` as ``%2B`` (a bare ``+`` would reach MoySklad as a space)."""
    return "&".join(f"{quote(str(k), safe='')}={quote(str(v), safe=_QUERY_SAFE)}" for k, v in query.items())


def filter_value(value: str) -> str:
    """A literal ';' inside a filter value is written '\\;' (it separates conditions otherwise)."""
    return str(value).replace("\\", "\\\\").replace(";", "\\;")
