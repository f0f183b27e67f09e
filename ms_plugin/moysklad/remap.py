"""MoySklad JSON API 1.2 ("remap") client: counterparties, employees, orders, tasks, notes.

Auth is sent per request: ``Authorization: Basic`` with the tenant's login/password, or ``Bearer`` with
its ``api_token`` (which wins). We never mint tokens with ``POST /security/token``: a new token revokes
every token the user obtained before, so workers (and other integrations of that user) would log each
other out.

Creates that carry a ``syncId`` are idempotent (MoySklad returns the existing entity for a known syncId),
so they are retried like GET/PUT; notes, tasks and sales channels have no syncId and are never resent.

Besides the errors each method names, every method may raise "the usual": ``AuthFailed`` (401/1056),
``Forbidden`` (403), ``RateLimited`` (429 longer than the call may wait), ``LimiterBusy`` (our limiter:
cooldown, open circuit, full window), ``Unavailable`` (5xx, timeouts, connection errors, after the
retries) and ``MalformedResponse`` (a 2xx that is not the JSON we need).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ms_plugin.moysklad.client_base import BaseClient, Request, default_rng
from ms_plugin.moysklad.errors import MalformedResponse
from ms_plugin.moysklad.limiter import LimitPolicy, Limiter, credential_key
from ms_plugin.moysklad.models import (
    ContactPerson,
    Counterparty,
    CustomerOrder,
    Employee,
    Note,
    OrderState,
    Organization,
    SalesChannel,
    Task,
    entity_href,
    first_object,
    meta_ref,
    rows,
)
from ms_plugin.moysklad.records import Observer
from ms_plugin.moysklad.refs import filter_value, seg
from ms_plugin.moysklad.settings import DEFAULT_API_URL, MsClientSettings
from ms_plugin.moysklad.timeouts import BudgetName, Timeouts
from ms_plugin.moysklad.transport import Transport

PAGE = 1000  # MoySklad's maximum page
MAX_PAGES = 20
EXPAND_LIMIT = 100  # expand is silently ignored above this limit


@dataclass(frozen=True)
class BasicAuth:
    login: str
    password: str = field(repr=False)

    def header(self) -> str:
        raw = f"{self.login}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    @property
    def identity(self) -> str:
        return f"user:{self.login.strip().lower()}"  # MoySklad limits per user, whatever the password

    def secrets(self) -> tuple[str, ...]:
        return (self.password, self.header().split(" ", 1)[1])  # and the Basic blob


@dataclass(frozen=True)
class BearerAuth:
    token: str = field(repr=False)

    def header(self) -> str:
        return f"Bearer {self.token}"

    @property
    def identity(self) -> str:
        return f"token:{self.token}"

    def secrets(self) -> tuple[str, ...]:
        return (self.token,)


JsonAuth = BasicAuth | BearerAuth  # the tenant's JSON API credential


def json_auth(login: str | None, password: str | None, api_token: str | None) -> JsonAuth | None:
    """The tenant's JSON API credential: its ``api_token`` wins over login/password; None when absent."""
    if api_token:
        return BearerAuth(api_token)
    if login and password:
        return BasicAuth(login, password)
    return None


class RemapClient(BaseClient):
    api = "json"

    def __init__(
        self,
        transport: Transport,
        auth: JsonAuth,
        limiter: Limiter,
        *,
        base_url: str = DEFAULT_API_URL,
        observer: Observer | None = None,
        timeouts: Timeouts | None = None,
        policy: LimitPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = default_rng,
    ) -> None:
        self._auth = auth
        self.key = credential_key("json", auth.identity)
        policy = policy or LimitPolicy(MsClientSettings())
        super().__init__(transport, limiter, base_url=base_url, observer=observer, timeouts=timeouts,
                         spec=lambda: policy.json(self.key), sleep=sleep, clock=clock, rng=rng)

    def __repr__(self) -> str:  # never the credential
        return f"RemapClient(base_url={self.base_url!r}, key={self.key!r})"

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": self._auth.header()}

    def _secrets(self) -> tuple[str, ...]:
        return self._auth.secrets()

    def ref(self, kind: str, entity_id: str) -> dict[str, Any]:
        """``{"meta": {...}}`` of an entity of this account (for request bodies)."""
        return meta_ref(self.base_url, kind, entity_id)

    def href(self, kind: str, entity_id: str) -> str:
        return entity_href(self.base_url, kind, entity_id)  # filters take full hrefs: agent=<href>

    # -- plumbing -------------------------------------------------------------------------------

    def _get(self, endpoint: str, path: str, query: Mapping[str, str] | None = None,
             budget: BudgetName = "background") -> Any:
        return self._call(Request("GET", endpoint, path, query=query, idempotent=True, budget=budget)).data

    def _send(self, method: str, endpoint: str, path: str, body: Mapping[str, Any], *, idempotent: bool,
              budget: BudgetName = "background") -> Any:
        return self._call(Request(method, endpoint, path, body=dict(body), idempotent=idempotent,
                                  budget=budget)).data

    def _list_all(self, endpoint: str, path: str, query: Mapping[str, str] | None = None) -> list[Mapping[str, Any]]:
        out: list[Mapping[str, Any]] = []
        for page in range(MAX_PAGES):
            data = self._get(endpoint, path, {**(query or {}), "limit": str(PAGE), "offset": str(page * PAGE)})
            batch = rows(data, endpoint)
            out.extend(batch)
            if len(batch) < PAGE:
                break
        return out

    # -- who am I -------------------------------------------------------------------------------

    def context_employee(self, *, budget: BudgetName = "background") -> Employee:
        """``GET /context/employee``: the employee behind the credential (a credentials test).
        Raises ``Forbidden`` (1061 no API access) and the usual."""
        return Employee.from_json(self._get("/context/employee", "/context/employee", budget=budget))

    # -- counterparties -------------------------------------------------------------------------

    def search_counterparties(self, query: str, *, limit: int = 20, expand_contact_persons: bool = True,
                              budget: BudgetName = "background") -> list[Counterparty]:
        """``GET /entity/counterparty?search=<query>&limit=<n>[&expand=contactpersons,owner]``.

        ``search`` matches names, phones and contact persons' phones as substrings; confirm phone matches
        on our side. ``expand`` only works with ``limit <= 100`` (MoySklad ignores it silently above), so it
        is not sent then. A ``+`` is sent as ``%2B`` (a bare ``+`` would arrive as a space).
        Raises ``AuthFailed``, ``Forbidden``, ``RateLimited``, ``LimiterBusy``, ``Unavailable``, ``MalformedResponse``.
        """
        params = {"search": query, "limit": str(max(1, min(limit, PAGE)))}
        if limit <= EXPAND_LIMIT:
            params["expand"] = "contactpersons,owner" if expand_contact_persons else "owner"
        data = self._get("/entity/counterparty", "/entity/counterparty", params, budget)
        return [Counterparty.from_json(r) for r in rows(data, "counterparty search")]

    def get_counterparty(self, counterparty_id: str, *, budget: BudgetName = "background") -> Counterparty:
        """``GET /entity/counterparty/<id>?expand=contactpersons,owner``. Raises ``NotFound`` and the usual."""
        data = self._get("/entity/counterparty/{id}", f"/entity/counterparty/{seg(counterparty_id)}",
                         {"expand": "contactpersons,owner"}, budget)
        return Counterparty.from_json(data)

    def create_counterparty(self, body: Mapping[str, Any], sync_id: str) -> Counterparty:
        """``POST /entity/counterparty`` with ``syncId`` (idempotent: a retry returns the same entity).
        Raises ``ValidationFailed`` (3015 bad e-mail...), ``Forbidden`` (1045), and the usual."""
        data = self._send("POST", "/entity/counterparty", "/entity/counterparty", {**body, "syncId": sync_id},
                          idempotent=True)
        return Counterparty.from_json(first_object(data, "counterparty"))

    def update_counterparty(self, counterparty_id: str, body: Mapping[str, Any]) -> Counterparty:
        """``PUT /entity/counterparty/<id>`` (only the fields sent change). Raises ``NotFound``,
        ``ValidationFailed``, ``Forbidden`` (1017), and the usual."""
        data = self._send("PUT", "/entity/counterparty/{id}", f"/entity/counterparty/{seg(counterparty_id)}",
                          body, idempotent=True)
        return Counterparty.from_json(data)

    def list_contact_persons(self, counterparty_id: str) -> list[ContactPerson]:
        """``GET /entity/counterparty/<id>/contactpersons``. Raises ``NotFound`` and the usual."""
        data = self._get("/entity/counterparty/{id}/contactpersons",
                         f"/entity/counterparty/{seg(counterparty_id)}/contactpersons", {"limit": str(PAGE)})
        return [ContactPerson.from_json(r) for r in rows(data, "contact persons")]

    def add_counterparty_note(self, counterparty_id: str, text: str) -> Note:
        """``POST /entity/counterparty/<id>/notes`` with ``{"description": text}`` (<= 4096 chars).
        Notes have no syncId: never resent after a doubtful failure. The answer may be an array (docs)
        or an object (spec); both are handled. Raises ``NotFound``, ``ValidationFailed``, and the usual."""
        data = self._send("POST", "/entity/counterparty/{id}/notes",
                          f"/entity/counterparty/{seg(counterparty_id)}/notes", {"description": text[:4096]},
                          idempotent=False)
        return Note.from_json(first_object(data, "note"))

    # -- employees, organizations, sales channels -----------------------------------------------

    def list_employees(self) -> list[Employee]:
        """``GET /entity/employee`` (every page). Raises ``AuthFailed``, ``Forbidden`` and the usual."""
        return [Employee.from_json(r) for r in self._list_all("/entity/employee", "/entity/employee")]

    def get_employee(self, employee_id: str) -> Employee:
        """``GET /entity/employee/<id>``. Raises ``NotFound`` and the usual."""
        return Employee.from_json(self._get("/entity/employee/{id}", f"/entity/employee/{seg(employee_id)}"))

    def list_organizations(self) -> list[Organization]:
        """``GET /entity/organization`` (every page, archived ones included: check ``archived``)."""
        return [Organization.from_json(r) for r in self._list_all("/entity/organization", "/entity/organization")]

    def list_sales_channels(self) -> list[SalesChannel]:
        """``GET /entity/saleschannel`` (all pages): for the admin's "sales channel" choice."""
        return [SalesChannel.from_json(r) for r in self._list_all("/entity/saleschannel", "/entity/saleschannel")]

    def find_sales_channel(self, name: str) -> SalesChannel | None:
        """``GET /entity/saleschannel?filter=name=<name>``: the non-archived channel with exactly this
        name (an archived one when that is all there is), else None."""
        data = self._get("/entity/saleschannel", "/entity/saleschannel",
                         {"filter": f"name={filter_value(name)}", "limit": "100"})
        channels = [SalesChannel.from_json(r) for r in rows(data, "sales channels")]
        exact = [c for c in channels if c.name == name]
        return next((c for c in exact if not c.archived), exact[0] if exact else None)

    def create_sales_channel(self, name: str, type: str = "DIRECT_SALES") -> SalesChannel:
        """``POST /entity/saleschannel`` with ``{name, type}`` (no syncId: not resent). Raises
        ``ValidationFailed`` (3005 bad type, 3006 duplicate), ``Forbidden``, and the usual."""
        data = self._send("POST", "/entity/saleschannel", "/entity/saleschannel", {"name": name, "type": type},
                          idempotent=False)
        return SalesChannel.from_json(first_object(data, "sales channel"))

    # -- customer orders ------------------------------------------------------------------------

    def customer_order_states(self) -> list[OrderState]:
        """``GET /entity/customerorder/metadata`` -> its ``states`` (with hrefs to reference them)."""
        data = self._get("/entity/customerorder/metadata", "/entity/customerorder/metadata")
        states = data.get("states") if isinstance(data, Mapping) else None
        if not isinstance(states, list):
            raise MalformedResponse("customer order metadata without states", 200)
        return [OrderState.from_json(s) for s in states if isinstance(s, Mapping)]

    def list_customer_orders(self, agent_id: str, *, limit: int = 10) -> list[CustomerOrder]:
        """``GET /entity/customerorder?filter=agent=<href>&order=moment,desc&expand=state``: the
        counterparty's newest orders first, with their states' names and types."""
        query = {"filter": f"agent={self.href('counterparty', agent_id)}", "order": "moment,desc",
                 "limit": str(max(1, min(limit, EXPAND_LIMIT))), "expand": "state"}
        data = self._get("/entity/customerorder", "/entity/customerorder", query)
        return [CustomerOrder.from_json(r) for r in rows(data, "customer orders")]

    def create_customer_order(self, body: Mapping[str, Any], sync_id: str) -> CustomerOrder:
        """``POST /entity/customerorder`` (``organization`` and ``agent`` required) with ``syncId``
        (idempotent). Raises ``ValidationFailed`` (3000, 11001 bad state...), ``Forbidden``, and the usual."""
        data = self._send("POST", "/entity/customerorder", "/entity/customerorder", {**body, "syncId": sync_id},
                          idempotent=True)
        return CustomerOrder.from_json(first_object(data, "customer order"))

    # -- tasks ----------------------------------------------------------------------------------

    def create_task(self, body: Mapping[str, Any]) -> Task:
        """``POST /entity/task`` (``description`` and ``assignee`` required). No syncId: never resent
        after a doubtful failure. Raises ``FeatureUnavailable`` (37000: no CRM option), ``ValidationFailed``,
        ``Forbidden``, and the usual."""
        data = self._send("POST", "/entity/task", "/entity/task", body, idempotent=False)
        return Task.from_json(first_object(data, "task"))

    def list_tasks(self, *, agent_id: str | None = None, assignee_id: str | None = None,
                   done: bool | None = None) -> list[Task]:
        """``GET /entity/task?filter=agent=<href>;assignee=<href>;done=<bool>``. Raises
        ``FeatureUnavailable`` (37000) and the usual."""
        conditions = []
        if agent_id:
            conditions.append(f"agent={self.href('counterparty', agent_id)}")
        if assignee_id:
            conditions.append(f"assignee={self.href('employee', assignee_id)}")
        if done is not None:
            conditions.append(f"done={'true' if done else 'false'}")
        query = {"filter": ";".join(conditions)} if conditions else None
        return [Task.from_json(r) for r in self._list_all("/entity/task", "/entity/task", query)]

    def update_task(self, task_id: str, body: Mapping[str, Any]) -> Task:
        """``PUT /entity/task/<id>`` (e.g. ``{"done": true}``). Raises ``NotFound``, ``Forbidden``
        (37001/37003), ``FeatureUnavailable`` (37000), and the usual."""
        data = self._send("PUT", "/entity/task/{id}", f"/entity/task/{seg(task_id)}", body, idempotent=True)
        return Task.from_json(data)
