"""One record per HTTP attempt to MoySklad, handed to an injected observer (metrics, the journal).

Records never carry a secret: no header is recorded at all; bodies are copied with every value under a
secret key (``iter_secret_keys`` of the contract: token, password, authorization...) replaced, and
finally any occurrence of the client's own credentials (token, password, Basic blob) in the serialised
bodies, path or message is masked. Bodies are truncated to keep journal rows small.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

from host_app.integrations.contract import iter_secret_keys

log = logging.getLogger(__name__)

Api = Literal["phone", "json"]
Outcome = Literal["ok", "rate_limited", "auth_failed", "client_error", "server_error", "timeout",
                  "connection_error", "malformed"]
OUTCOMES: tuple[str, ...] = ("ok", "rate_limited", "auth_failed", "client_error", "server_error", "timeout",
                             "connection_error", "malformed")

MAX_BODY_CHARS = 4000
MASK = "***"
_SECRET_KEYS = frozenset(k.lower() for k in iter_secret_keys()) | {"access_token", "api_key", "x-api-key"}


@dataclass(frozen=True)
class RequestRecord:
    api: str  # "phone" | "json"
    method: str
    endpoint: str  # template without ids, e.g. "/call/extid/{id}/event" (a metric label)
    path: str  # the real path with ids (and a query free of secrets)
    status: int | None
    outcome: str  # one of OUTCOMES
    duration_ms: int
    attempt: int  # 1-based within one client call
    error_codes: tuple[int, ...] = ()
    request_body: Any = None  # scrubbed, truncated JSON value
    response_body: Any = None
    error: str | None = None
    retry_after: float | None = None  # seconds, when MoySklad asked for a pause
    enterprise_number: str | None = None
    call_unique_id: str | None = None
    phone: str | None = None
    started_at: float = 0.0  # epoch seconds
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. {"probe": True} for the POST /call probe


Observer = Callable[[RequestRecord], None]


def scrub(value: Any, secrets: tuple[str, ...] = (), depth: int = 0) -> Any:
    """A copy of a JSON value: values of secret-named keys masked, ``secrets`` masked inside strings."""
    if depth > 20:
        return MASK
    if isinstance(value, dict):
        return {mask_text(str(k), secrets): (MASK if str(k).lower() in _SECRET_KEYS and v not in (None, "")
                                             else scrub(v, secrets, depth + 1))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v, secrets, depth + 1) for v in value]
    if isinstance(value, str):
        return mask_text(value, secrets)
    return value


def secret_forms(secrets: Iterable[str]) -> tuple[str, ...]:
    """Each secret as is and percent-encoded (as it would appear in a URL)."""
    forms: list[str] = []
    for secret in secrets:
        if secret:
            forms.extend({secret, quote(secret, safe=""), quote(secret, safe="=;,~!:/")})
    return tuple(sorted(set(forms), key=len, reverse=True))


def mask_text(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4 and secret in text:
            text = text.replace(secret, MASK)
    return text


def body_for_record(value: Any, secrets: Iterable[str] = (), limit: int = MAX_BODY_CHARS) -> Any:
    """Scrub (secret keys, the client's credentials anywhere in a string), truncate. A JSON value."""
    if value is None:
        return None
    forms = secret_forms(secrets)
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "replace")
    cleaned = scrub(value, forms)
    if isinstance(cleaned, str):
        return cleaned if len(cleaned) <= limit else {"truncated": True, "size": len(cleaned), "head": cleaned[:limit]}
    try:
        text = json.dumps(cleaned, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return MASK
    if len(text) > limit:
        return {"truncated": True, "size": len(text), "head": text[:limit]}
    return cleaned


def notify(observer: Observer | None, record: RequestRecord) -> None:
    """Call the observer; an observer's failure is logged, never raised into the client."""
    if observer is None:
        return
    try:
        observer(record)
    except Exception:  # metrics or the journal must never break a MoySklad call
        log.exception("MoySklad request observer failed")


def chain(*observers: Observer | None) -> Observer:
    """One observer calling several (e.g. metrics and the journal)."""
    active = [o for o in observers if o is not None]

    def _observer(record: RequestRecord) -> None:
        for obs in active:
            notify(obs, record)

    return _observer
