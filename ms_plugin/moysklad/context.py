"""Who a MoySklad request is for: the plugin sets this around a call's processing, the clients copy it
into every :class:`~ms_plugin.moysklad.records.RequestRecord` (so the journal can file each HTTP attempt
under the call's UniqueId and phone without threading them through every method).

``contextvars`` are per greenlet under gevent (and per thread otherwise), so concurrent calls in one
worker never see each other's context.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    enterprise_number: str | None = None
    call_unique_id: str | None = None
    phone: str | None = None


request_context: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "ms_request_context", default=None)


def current_context() -> RequestContext:
    return request_context.get() or RequestContext()


@contextmanager
def bind_request_context(enterprise_number: str | None = None, call_unique_id: str | None = None,
                         phone: str | None = None) -> Iterator[RequestContext]:
    """``with bind_request_context("100", "1700000000.1", "+375291234567"): client.create_call(...)``"""
    ctx = RequestContext(enterprise_number, call_unique_id, phone)
    token = request_context.set(ctx)
    try:
        yield ctx
    finally:
        request_context.reset(token)
