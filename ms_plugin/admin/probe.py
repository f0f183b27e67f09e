"""``POST /ms-admin/test/<ent>``: does MoySklad accept these credentials? Answered in plain words.

Phone API: ``GET /employee``; JSON API: ``GET /context/employee``. Both on the *hot* budget (short
timeouts, one quick retry): an admin waits for the answer. Unsaved credentials from the body are tried
with clients built just for this test (never cached, so the tenant's clients stay as they are).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from host_app.integrations.contract import ApiError
from ms_plugin.moysklad.context import bind_request_context
from ms_plugin.moysklad.errors import (
    AuthFailed,
    FeatureUnavailable,
    Forbidden,
    LimiterBusy,
    MoySkladError,
    RateLimited,
    Unavailable,
)
from ms_plugin.moysklad.factory import TenantCredentials
from ms_plugin.state import PluginState

log = logging.getLogger(__name__)

Outcome = dict[str, Any]
NO_API_ACCESS = 1061
# A blocked account or user gets the same 401/1056 as a wrong password; only the message tells.
_BLOCKED_WORDS = ("заблокирован", "blocked")


def outcome(code: str, message: str) -> Outcome:
    return {"ok": code == "ok", "code": code, "message": message}


def describe_error(exc: Exception, api: str) -> Outcome:
    """A MoySklad failure as ``{ok, code, message}`` for people (``api``: "phone" | "json")."""
    text = getattr(exc, "message", str(exc))
    if isinstance(exc, AuthFailed):
        if any(word in text.lower() for word in _BLOCKED_WORDS):
            return outcome("account_blocked", "Аккаунт или пользователь МойСклад заблокирован: войдите в МойСклад "
                                              "и проверьте оплату и статус аккаунта.")
        if api == "phone":
            return outcome("auth_failed", "МойСклад не принял ключ интеграции. Скопируйте ключ заново в "
                                          "настройках телефонии МойСклад.")
        return outcome("auth_failed", "МойСклад не принял логин и пароль (или токен) основного API. "
                                      "Проверьте их: логин вида user@account.")
    if isinstance(exc, FeatureUnavailable):
        if 55008 in exc.codes or api == "phone":
            return outcome("no_telephony_option", "В аккаунте МойСклад не подключено решение телефонии: "
                                                  "подключите его в каталоге решений (раздел «Телефония»).")
        return outcome("forbidden", "Тариф аккаунта МойСклад не разрешает эту операцию.")
    if isinstance(exc, Forbidden):
        if NO_API_ACCESS in exc.codes:
            return outcome("forbidden", "У этого пользователя МойСклад нет доступа к API: администратор "
                                        "аккаунта может включить его в карточке сотрудника.")
        return outcome("forbidden", "МойСклад отказал в доступе: у пользователя не хватает прав.")
    if isinstance(exc, (RateLimited, LimiterBusy)):
        return outcome("unreachable", "МойСклад просит подождать (превышен лимит запросов). Повторите проверку "
                                      "через минуту.")
    if isinstance(exc, Unavailable):
        return outcome("unreachable", "Не удалось связаться с МойСклад (нет ответа или сервис недоступен). "
                                      "Повторите проверку позже.")
    if isinstance(exc, MoySkladError):
        status = f" (HTTP {exc.status})" if exc.status else ""
        return outcome("unreachable", f"МойСклад ответил неожиданно{status}: проверьте адрес API.")
    return outcome("unreachable", "Не удалось проверить подключение: внутренняя ошибка.")


def _pick(body: Mapping[str, Any], saved: Any, key: str) -> str | None:
    value = body.get(key)
    if isinstance(value, str) and value.strip():
        return value.strip()
    stored = getattr(saved, key, None)
    return str(stored) if stored else None


class ConnectionProbe:
    def __init__(self, state: PluginState) -> None:
        self.state = state

    def run(self, ent: str, body: Mapping[str, Any]) -> dict[str, Outcome]:
        tenant = self.state.tenants.get(ent)
        if tenant is None:
            raise ApiError(f"enterprise {ent} not found", code="not_found", status=404)
        cfg = tenant.config
        creds = TenantCredentials(
            ent, tenant.version, _pick(body, cfg, "integration_code"), _pick(body, cfg, "login"),
            _pick(body, cfg, "password"), _pick(body, cfg, "api_token"), cfg.api_url, cfg.phone_api_url)
        phone = json = None
        build_error: Outcome | None = None
        try:
            phone, json = self._build(creds)
        except ValueError:
            build_error = outcome("not_configured", "Адрес API МойСклад в настройках не разрешён на этом сервере "
                                                    "(MS_ALLOWED_API_HOSTS).")
        with bind_request_context(ent):  # the journal files these requests under the enterprise
            phone_result = build_error or self._check(
                phone, "phone", lambda c: c.list_employees(budget="hot"),
                "Ключ интеграции не задан: без него звонки не попадают в МойСклад.",
                lambda employees: f"Ключ принят, решение телефонии подключено (сотрудников с добавочным: "
                                  f"{len(employees)}).")
            json_result = build_error or self._check(
                json, "json", lambda c: c.context_employee(budget="hot"),
                "Логин и пароль (или токен) основного API не заданы: звонки попадут в МойСклад, но без поиска "
                "клиентов, заказов и задач.",
                lambda me: f"Логин и пароль (или токен) приняты: пользователь {me.uid or me.full_name or me.id}.")
        return {"phone_api": phone_result, "json_api": json_result}

    def _build(self, creds: TenantCredentials) -> tuple[Any, Any]:
        clients = self.state.clients
        if clients is None:
            return None, None
        factory = clients.factory
        # Uncached on purpose: unsaved credentials must not replace the tenant's cached clients.
        built = factory.build(creds)
        return built.phone, built.remap

    @staticmethod
    def _check(client: Any, api: str, call: Callable[[Any], Any], missing: str,
               fine: Callable[[Any], str]) -> Outcome:
        if client is None:
            return outcome("not_configured", missing)
        try:
            answer = call(client)
        except Exception as exc:  # every failure becomes words for the admin; the log keeps details
            log.info("connection test (%s) failed: %r", api, exc)
            return describe_error(exc, api)
        return outcome("ok", fine(answer))
