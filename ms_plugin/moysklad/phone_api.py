"""MoySklad Phone API 1.0 client: calls, call-card events, employees' extensions.

Auth is the ``Lognex-Phone-Auth-Token`` header on every request (and nothing else: no Authorization).
Calls are addressed by our ``externalId`` (the PBX UniqueId) through ``/call/extid/<id>``, percent-encoded
as one path segment. The API has no GET by externalId and no DELETE; ``PUT /call/extid/<id>`` with ``{}``
changes nothing and tells whether the call exists.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from ms_plugin.moysklad.client_base import Answer, BaseClient, Request, default_rng
from ms_plugin.moysklad.errors import MalformedResponse, NotFound, ValidationFailed
from ms_plugin.moysklad.limiter import LimitPolicy, Limiter, credential_key
from ms_plugin.moysklad.models import Call, PhoneEmployee, bare_meta
from ms_plugin.moysklad.records import Observer
from ms_plugin.moysklad.refs import filter_value, seg
from ms_plugin.moysklad.settings import DEFAULT_API_URL, DEFAULT_PHONE_API_URL, MsClientSettings
from ms_plugin.moysklad.timeouts import BudgetName, Timeouts
from ms_plugin.moysklad.transport import Transport

log = logging.getLogger(__name__)

DUPLICATE_CODE = 3006  # uniqueness violated: a call with this externalId exists already
UNKNOWN_PATH_CODE = 1002  # unrecognised path (not "no such call", which is 1021)


class PhoneApiClient(BaseClient):
    api = "phone"

    def __init__(
        self,
        transport: Transport,
        token: str,
        limiter: Limiter,
        *,
        base_url: str = DEFAULT_PHONE_API_URL,
        observer: Observer | None = None,
        timeouts: Timeouts | None = None,
        json_base_url: str = DEFAULT_API_URL,
        policy: LimitPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = default_rng,
    ) -> None:
        if not token:
            raise ValueError("the Phone API needs a token (integration_code)")
        self._token = token
        self.key = credential_key("phone", token)
        policy = policy or LimitPolicy(MsClientSettings())
        super().__init__(transport, limiter, base_url=base_url, observer=observer, timeouts=timeouts,
                         spec=lambda: policy.phone(self.key), sleep=sleep, clock=clock, rng=rng)
        # Call bodies reference employees and counterparties by JSON API hrefs (bare meta objects).
        self.json_base_url = json_base_url.rstrip("/")

    def __repr__(self) -> str:
        return f"PhoneApiClient(base_url={self.base_url!r}, key={self.key!r})"

    def _auth_headers(self) -> dict[str, str]:
        return {"Lognex-Phone-Auth-Token": self._token}

    def _secrets(self) -> tuple[str, ...]:
        return (self._token,)

    # -- references -----------------------------------------------------------------------------

    def employee_meta(self, employee_id: str) -> dict[str, str]:
        """The bare meta a call or event body carries in ``employee``."""
        return bare_meta(self.json_base_url, "employee", employee_id)

    def counterparty_meta(self, counterparty_id: str) -> dict[str, str]:
        """The bare meta a call body carries in ``counterparty``."""
        return bare_meta(self.json_base_url, "counterparty", counterparty_id)

    # -- calls ----------------------------------------------------------------------------------

    def create_call(self, body: Mapping[str, Any], *, budget: BudgetName = "background") -> Call:
        """``POST /call`` (``externalId``, ``number``, ``isIncoming``, ``startTime`` required).

        POST is not idempotent: after a timeout, a dropped connection or a 5xx the call may exist, so the
        client probes ``PUT /call/extid/<externalId>`` with ``{}`` (200: it exists and is returned;
        404: it is created again). A duplicate-externalId refusal (3006) is answered the same way. In
        both cases an existing call is returned as it is: events of ``body`` are not sent again.

        Raises ``ValidationFailed`` (412/3000 missing field...), ``AuthFailed``, ``FeatureUnavailable``
        (55008), ``RateLimited``, ``LimiterBusy``, ``Unavailable``, ``MalformedResponse``.
        """
        external_id = str(body.get("externalId") or "")
        if not external_id:
            raise ValueError("a call needs an externalId")

        def recover(deadline: float) -> Answer | None:
            found = self._probe(external_id, budget, deadline)
            if found is not None:
                log.info("MoySklad call %s existed after a failed create: not created again", external_id)
            return found

        req = Request("POST", "/call", "/call", body=dict(body), idempotent=False, budget=budget, recover=recover)
        try:
            answer = self._call(req)
        except ValidationFailed as exc:
            if DUPLICATE_CODE not in exc.codes:
                raise
            found = self._probe(external_id, budget, None)
            if found is None:
                raise
            log.info("MoySklad call %s exists already (3006): returning it", external_id)
            answer = found
        return Call.from_json(answer.data)

    def _probe(self, external_id: str, budget: BudgetName, deadline: float | None) -> Answer | None:
        req = Request("PUT", "/call/extid/{id}", f"/call/extid/{seg(external_id)}", body={}, idempotent=True,
                      budget=budget, extra={"probe": True})
        try:
            return self._call(req, deadline=deadline)
        except NotFound as exc:
            if UNKNOWN_PATH_CODE in exc.codes:
                # "Unrecognised path" says nothing about the call (an id the router splits, a wrong base
                # URL): creating it again could duplicate it, so the caller gets the error.
                raise
            return None

    def exists(self, external_id: str, *, budget: BudgetName = "background") -> Call | None:
        """Whether a call with this ``externalId`` exists: ``PUT /call/extid/<id>`` with ``{}``
        (changes nothing). Returns it, or ``None`` on 404. Raises like :meth:`update_call`."""
        answer = self._probe(external_id, budget, None)
        return Call.from_json(answer.data) if answer is not None else None

    def update_call(self, call_id: str, body: Mapping[str, Any], *, budget: BudgetName = "background") -> Call:
        """``PUT /call/<id>``: partial update. MoySklad never overwrites ``extension``, ``employee``,
        ``endTime``, ``duration`` once set; ``recordUrl`` appends; ``comment`` is replaced.

        Raises ``NotFound`` (unknown id), ``ValidationFailed``, ``AuthFailed``, ``RateLimited``,
        ``LimiterBusy``, ``Unavailable``, ``MalformedResponse``.
        """
        req = Request("PUT", "/call/{id}", f"/call/{seg(call_id)}", body=dict(body), idempotent=True, budget=budget)
        return Call.from_json(self._call(req).data)

    def update_call_by_external_id(self, external_id: str, body: Mapping[str, Any], *,
                                   budget: BudgetName = "background") -> Call:
        """``PUT /call/extid/<externalId>``: as :meth:`update_call`; ``NotFound`` when no such call."""
        req = Request("PUT", "/call/extid/{id}", f"/call/extid/{seg(external_id)}", body=dict(body),
                      idempotent=True, budget=budget)
        return Call.from_json(self._call(req).data)

    # -- card events ----------------------------------------------------------------------------

    def send_event(self, call_id: str, event: Mapping[str, Any], *, budget: BudgetName = "hot") -> None:
        """``POST /call/<id>/event`` with one event (``eventType`` SHOW/STARTTIME/HIDE/HIDE_ALL,
        ``extension``, ``sequence``, optional bare ``employee``): 204 (200 accepted too).

        A card event sets a card's state (shown, timing, hidden) and carries its sequence number, so
        sending it twice is harmless: it is retried like an idempotent request (once on the hot budget).
        Raises ``NotFound``, ``ValidationFailed`` (3005 bad eventType), ``AuthFailed``, ``RateLimited``,
        ``LimiterBusy``, ``Unavailable``.
        """
        self._call(Request("POST", "/call/{id}/event", f"/call/{seg(call_id)}/event", body=dict(event),
                           idempotent=True, expect_json=False, budget=budget))

    def send_event_by_external_id(self, external_id: str, event: Mapping[str, Any], *,
                                  budget: BudgetName = "hot") -> None:
        """``POST /call/extid/<externalId>/event``: as :meth:`send_event`."""
        self._call(Request("POST", "/call/extid/{id}/event", f"/call/extid/{seg(external_id)}/event",
                           body=dict(event), idempotent=True, expect_json=False, budget=budget))

    # -- employees ------------------------------------------------------------------------------

    def list_employees(self, extension: str | None = None, *,
                       budget: BudgetName = "background") -> list[PhoneEmployee]:
        """``GET /employee[?filter=extention=<x>]`` (sic: MoySklad spells the field ``extention``): the
        employees that have a MoySklad extension. Raises ``AuthFailed``, ``FeatureUnavailable``
        (55008), ``RateLimited``, ``LimiterBusy``, ``Unavailable``, ``MalformedResponse``."""
        query = {"filter": f"extention={filter_value(extension)}"} if extension is not None else None
        data = self._call(Request("GET", "/employee", "/employee", query=query, idempotent=True,
                                  budget=budget)).data
        items = data.get("employees") if isinstance(data, Mapping) else data
        if not isinstance(items, list):
            raise MalformedResponse("GET /employee: no employees array", 200)
        return [PhoneEmployee.from_json(item) for item in items if isinstance(item, Mapping)]
