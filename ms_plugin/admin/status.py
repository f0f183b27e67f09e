"""The tenant's status as the admin page shows it: ok | disabled | credentials_invalid | degraded.

* ``credentials_invalid``: MoySklad refused the Phone API key under the *current* config version (a
  newer config means the admin changed something: the mark no longer applies and jobs run again);
* ``degraded``: enabled, but without JSON API credentials or with JSON credentials MoySklad refused, so
  calls are logged (MoySklad matches numbers itself) while lookups, clients, orders and tasks are skipped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from ms_plugin.tenant import Refusals


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, dt.datetime) else None


def tenant_status(loaded: Mapping[str, Any], marks: Mapping[str, Any] | None, refused: Refusals,
                  jobs: Mapping[str, int]) -> dict[str, Any]:
    marks = marks or {}
    state = "ok"
    since = None
    last_error = None
    if not loaded.get("enabled"):
        state = "disabled"
    elif refused.phone:
        state, since, last_error = "credentials_invalid", _iso(refused.since), refused.last_error
    elif not (loaded.get("api_token") or (loaded.get("login") and loaded.get("password"))):
        state = "degraded"
        last_error = "Не заданы логин и пароль (или токен) основного API МойСклад: звонки попадают в МойСклад, " \
                     "но поиск клиентов, заказы и задачи не работают."
    elif refused.json:
        state, last_error = "degraded", refused.last_error
    if state == "ok" and marks.get("state") == "ok":
        since = _iso(marks.get("since"))
    return {
        "state": state,
        "since": since,
        "last_error": last_error,
        # waiting jobs are pending too: they run again as soon as the config changes
        "jobs_pending": int(jobs.get("pending", 0)) + int(jobs.get("running", 0)) + int(jobs.get("waiting", 0)),
        "jobs_failed": int(jobs.get("failed", 0)),
    }
