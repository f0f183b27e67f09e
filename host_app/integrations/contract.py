"""The host <-> plugin contract: the only module of ``host_app`` a plugin may import.

A plugin (``ms_plugin``, a RetailCRM or U-ON plugin, the test plugin in ``tests/``) is an object that
satisfies :class:`Integration`. The host loads it from ``HOST_INTEGRATIONS`` (``module:attr``), runs its
migrations, calls :meth:`Integration.init_app` with the :class:`HostServices` of the worker, and then:

* stores every accepted PBX event together with one durable job per active integration and runs
  :meth:`Integration.handle_call_event` from that job, in the background;
* asks the enterprise's primary integration for :meth:`Integration.customer_name` and
  :meth:`Integration.responsible_extension` (Smart Redirect and the lookup routes).

Everything a plugin needs from the host (database, config, journal, jobs, leases, shared cache, PBX
originate, auth for its views) reaches it through :class:`HostServices`. Background greenlets have no
Flask app context: pass ``services`` and plain ids to them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

EVENT_TYPES: tuple[str, ...] = ("start", "dial", "bridge", "hangup")


class ApiError(Exception):
    """An error that the host renders as ``{"error": {"code", "message", "details"}}`` with ``status``.

    Plugins raise it (or subclasses) from their views; the host's handlers render every one the same way.
    """

    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 details: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details: dict[str, Any] = dict(details or {})
        self.headers: dict[str, str] = dict(headers or {})


class PbxError(Exception):
    """An originate that failed. ``code``: unreachable, timeout, auth_failed, originate_failed,
    not_configured, invalid_value (a field carried CR/LF/NUL or is not an extension/phone)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# Exceptions a job handler raises to tell the runner what to do with its job.


class RetryLater(Exception):
    """Run the job again after ``delay`` seconds.

    ``count_attempt=False`` (a busy lease, a rate-limit pause, an open circuit) does not use up one of the
    job's bounded attempts; the runner still fails a job whose age passes its ``max_age``.
    """

    def __init__(self, delay: float, reason: str = "", *, count_attempt: bool = False) -> None:
        super().__init__(reason or f"retry in {delay:.1f}s")
        self.delay = max(0.0, delay)
        self.reason = reason
        self.count_attempt = count_attempt


class WaitForConfig(Exception):
    """Park the job (state ``waiting``) until this integration's config of the enterprise changes."""


class PermanentJobError(Exception):
    """Fail the job now: retrying cannot help (bad data, a permanent MoySklad refusal)."""



@dataclass(frozen=True)
class Enterprise:
    number: str
    name: str
    active: bool
    timezone: str  # IANA name of the PBX's wall clock, e.g. "Europe/Minsk"
    default_region: str  # "BY" | "RU" | "KZ" ...
    has_pbx: bool
    config_version: int  # grows on every change of integrations_config (cache keys carry it)


@dataclass(frozen=True)
class CallEvent:
    """One PBX event as the host stored it (``raw`` untouched, keys starting with ``_`` included)."""

    id: int
    enterprise_number: str
    unique_id: str
    event_type: str  # one of EVENT_TYPES
    raw: Mapping[str, Any]
    origin: str  # "live" | "download"
    record_url: str | None
    received_at: dt.datetime  # tz-aware UTC: when the host stored it


@dataclass(frozen=True)
class Responsible:
    extension: str | None
    manager_id: str | None
    rule: str | None = None  # which rule of the chain answered (journaled)


@dataclass(frozen=True)
class SubmitResult:
    accepted: bool
    duplicate: bool
    event_id: int | None = None


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    integration: str
    enterprise_number: str | None
    key: str | None
    payload: Mapping[str, Any]
    attempts: int  # including the current run
    created_at: dt.datetime


@dataclass(frozen=True)
class JournalEntry:
    enterprise_number: str | None
    integration_type: str
    event_type: str
    status: str  # "success" | "error" | "skipped"
    call_unique_id: str | None = None
    phone: str | None = None  # E.164 where known, so the journal's phone filter matches any format
    request: Any = None
    response: Any = None
    error: str | None = None
    duration_ms: int | None = None


@dataclass(frozen=True)
class Principal:
    """Who is calling an admin route: the global admin, or one enterprise's admin."""

    kind: Literal["global", "enterprise"]
    enterprise_number: str | None = None
    via: Literal["bearer", "session"] = "bearer"

    def can_access(self, enterprise_number: str) -> bool:
        return self.kind == "global" or self.enterprise_number == enterprise_number



class Database(Protocol):
    def connection(self) -> AbstractContextManager[Any]:
        """A pooled psycopg2 connection: commits on success, rolls back on error, drops a dead one.

        Raises ``ApiError`` 503 ``db_unavailable`` / ``db_busy`` when PostgreSQL is down or the pool
        stays exhausted past its wait. Never hold it across an HTTP call.
        """


class ConfigStore(Protocol):
    def get_section(self, enterprise_number: str, code: str) -> dict[str, Any] | None: ...

    def merge_section(self, enterprise_number: str, code: str, patch: Mapping[str, Any], *,
                      remove: Sequence[Sequence[str]] = (), replace: Sequence[Sequence[str]] = (),
                      conn: Any = None) -> dict[str, Any]:
        """Atomically deep-merge ``patch`` into ``integrations_config[code]`` and return the new section.

        ``remove``: key paths deleted; ``replace``: key paths whose value in ``patch`` replaces the
        stored one whole (no deep merge). Bumps the enterprise's ``config_version``, resumes the
        integration's ``waiting`` jobs and notifies every worker (see :meth:`subscribe`).
        """

    def update_section(self, enterprise_number: str, code: str,
                       transform: Callable[[dict[str, Any]], dict[str, Any] | None]) -> dict[str, Any]:
        """Atomically replace the section with ``transform(current)`` (``None``: no change). Runs under
        the enterprise's row lock, so concurrent saves never lose each other's changes; ``transform`` may
        raise to abort. Same side effects as :meth:`merge_section` when something changed."""

    def delete_section(self, enterprise_number: str, code: str) -> bool: ...

    def subscribe(self, callback: Callable[[str, str], None]) -> None:
        """``callback(enterprise_number, code)`` runs in every worker after a config change.

        ``code`` is ``"*"`` when the enterprise row itself changed; both are ``"*"`` after the worker
        reconnected its listener (anything may have changed: drop everything).
        """


class EnterpriseDirectory(Protocol):
    def get(self, number: str) -> Enterprise | None: ...
    def pbx_config(self, number: str) -> Mapping[str, Any] | None: ...


class Journal(Protocol):
    def write(self, entry: JournalEntry, *, conn: Any = None) -> None:
        """Append to ``integration_logs`` (secrets scrubbed). Never raises: journaling is best effort."""


class JobQueue(Protocol):
    def register(self, kind: str, handler: Callable[[Job], None], *, integration: str, max_attempts: int = 8,
                 max_age: float = 24 * 3600.0, lease_seconds: float | None = None, lane: str = "main") -> None:
        """Declare a job kind. The handler runs in a background greenlet; it may raise RetryLater,
        WaitForConfig or PermanentJobError; any other exception is a failed attempt (retried with
        backoff until ``max_attempts``). ``lease_seconds``: how long a claim on a job of this kind lasts
        without the runner's heartbeat, i.e. how soon it is re-driven when its machine vanished (at
        least 20 s; default 30 s; a worker that dies on a live machine gives its jobs back at once).
        ``lane``: a tenant's running-job cap counts per integration and lane (call events run in "main"),
        so slow work put in a lane of its own never holds back the main lane."""

    def enqueue(self, kind: str, payload: Mapping[str, Any], *, enterprise_number: str | None,
                key: str | None = None, delay: float = 0.0, dedupe: bool = False,
                conn: Any = None) -> int | None:
        """Store a job (in ``conn``'s transaction when given) and return its id.

        ``key`` serialises jobs: two jobs with the same key never run at once. With ``dedupe=True`` no
        second *pending* job with the same kind and key is created (``None`` is returned).
        """

    def run_soon(self, job_ids: Sequence[int]) -> None:
        """Hint that these committed jobs should start now in this worker (skips the poll delay)."""

    def counts(self, integration: str, enterprise_number: str | None = None) -> Mapping[str, int]:
        """``{"pending": n, "running": n, "waiting": n, "failed": n}``."""


class Lease(Protocol):
    key: str
    def renew(self, ttl: float) -> bool: ...
    def release(self) -> None: ...


class Leases(Protocol):
    def acquire(self, key: str, ttl: float) -> Lease | None:
        """Take a cross-worker lease (a committed row with an expiry), or ``None`` when it is held."""


class SharedCache(Protocol):
    """A small key-value cache in PostgreSQL, shared by every worker and machine."""

    def get(self, key: str) -> Any | None: ...
    def set(self, key: str, value: Any, ttl: float) -> None: ...
    def delete(self, key: str) -> None: ...
    def delete_prefix(self, prefix: str) -> int: ...


class EventSink(Protocol):
    def submit(self, enterprise_number: str, unique_id: str, event_type: str, raw: Mapping[str, Any], *,
               origin: str = "live", record_url: str | None = None,
               integrations: Sequence[str] | None = None) -> SubmitResult:
        """Store an event (deduplicated by its identity) and a job for each given (else each active)
        integration, exactly as ``POST /dispatch/call-event`` does."""

    def for_call(self, enterprise_number: str, unique_ids: Sequence[str]) -> list[CallEvent]:
        """Every stored event of these UniqueIds, in arrival order."""

    def recent_by_phone(self, enterprise_number: str, since: dt.datetime, phone_tails: Sequence[str],
                        event_types: Sequence[str], *, conn: Any = None) -> list[CallEvent]:
        """Events received since ``since`` whose ``raw.Phone`` digits end with one of ``phone_tails``,
        in arrival order (e.g. the incoming call a follow-me leg belongs to, before it was processed)."""

    def get(self, event_id: int) -> CallEvent | None: ...


class PbxAdapter(Protocol):
    def originate(self, enterprise_number: str, extension: str, phone: str, caller_name: str) -> str:
        """Ring ``extension`` and, when it answers, dial ``phone``; returns an id of the attempt.

        Uses the enterprise's ``pbx`` settings (AMI or the HTTP control service). Blocks at most the
        adapter's timeout; raises :class:`PbxError`. Values never reach a shell; CR/LF are refused.
        """


class Auth(Protocol):
    """Auth helpers for plugin views (inside a request)."""

    def require_admin(self, enterprise_number: str | None = None) -> Principal:
        """401 without valid credentials; 403 when the principal may not see ``enterprise_number``
        (``None``: any authenticated admin)."""

    def require_global_admin(self) -> Principal: ...

    def require_internal(self) -> None:
        """403 unless the socket peer is loopback or ``X-Internal-Token`` matches."""

    def current_principal(self) -> Principal | None: ...

    def csrf_token(self) -> str:
        """The token for ``<meta name="csrf-token">`` of the current browser session."""

    def login_url(self, next_path: str) -> str: ...


Spawn = Callable[..., Any]


@dataclass(frozen=True)
class HostServices:
    db: Database
    config: ConfigStore
    enterprises: EnterpriseDirectory
    journal: Journal
    jobs: JobQueue
    leases: Leases
    cache: SharedCache
    events: EventSink
    pbx: PbxAdapter
    auth: Auth
    spawn: Spawn  # bounded gevent pool spawn in a worker; runs inline in tests
    clock: Callable[[], float]  # time.time, injectable
    environ: Mapping[str, str]  # process settings; a plugin validates its own prefix (MS_*)
    public_base_url: str
    var_dir: Path
    extras: Mapping[str, Any] = field(default_factory=dict)



@runtime_checkable
class Integration(Protocol):
    code: ClassVar[str]  # key in integrations_config, e.g. "ms"
    url_prefixes: ClassVar[tuple[str, ...]]  # URL prefixes its blueprint owns (collision check)
    can_lookup: ClassVar[bool]  # answers customer_name / responsible_extension
    def migrations_dir(self) -> Path | None: ...
    def init_app(self, app: Any, services: HostServices) -> None: ...

    def is_active(self, section: Mapping[str, Any] | None) -> bool:
        """Whether the enterprise's section turns this integration on (usually ``enabled: true``)."""

    def handle_call_event(self, event: CallEvent) -> None:
        """Process one stored event; runs from a durable job in the background (may raise RetryLater,
        WaitForConfig, PermanentJobError)."""

    def customer_name(self, enterprise_number: str, phone: str) -> str | None:
        """Never raises: failures are journaled and answered with ``None``."""

    def responsible_extension(self, enterprise_number: str, phone: str) -> Responsible | None:
        """Never raises: failures are journaled and answered with ``None``."""

    def health(self) -> Mapping[str, Any]: ...


def iter_secret_keys() -> Iterator[str]:
    """Key names whose values the journal and every API response must never show."""
    yield from ("integration_code", "password", "api_token", "secret", "token", "authorization",
                "lognex-phone-auth-token", "x-internal-token")



def read_json_object(*, allow_form: bool = False) -> dict[str, Any]:
    """The request body as a JSON object, with the contract's errors.

    415 ``unsupported_media_type`` for another content type (form bodies only when ``allow_form``),
    400 ``bad_json`` for JSON that does not parse (or is not UTF-8), 422 ``validation_error`` when the
    JSON is not an object or holds what PostgreSQL cannot store (the host's ``app.json`` says so). Flask's
    1 MiB ``MAX_CONTENT_LENGTH`` turns bigger bodies into 413 first.
    """
    from flask import current_app, request

    mimetype = request.mimetype or ""
    if allow_form and mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return {k: v for k, v in request.form.items()}
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise ApiError("the body must be JSON (Content-Type: application/json)",
                       code="unsupported_media_type", status=415)
    raw = request.get_data(cache=True)
    try:
        data = current_app.json.loads(raw.decode("utf-8"))  # the host's: refuses what PostgreSQL cannot store
    except (UnicodeDecodeError, ValueError, RecursionError):
        # RecursionError: a deeply nested body must be a clear 400, not a 500.
        raise ApiError("the body is not valid JSON", code="bad_json", status=400) from None
    if not isinstance(data, dict):
        raise ApiError("the body must be a JSON object", code="validation_error", status=422,
                       details={"_schema": ["must be a JSON object"]})
    return data
