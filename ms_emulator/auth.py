"""Who is calling: the Phone API key or JSON API Basic/Bearer credentials.

Identification never fails by itself: it returns the principal (for limits and statistics) together with
the error to answer, so that a request with a valid key to a disabled account is still counted.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

from .errors import ApiError
from .limits import Scope
from .model import Account, User

if TYPE_CHECKING:
    from .state import EmulatorState


@dataclass
class Identity:
    account: Account | None = None
    user: User | None = None
    principal: str | None = None  # Phone API: account name (one key per account); JSON API: login
    auth_kind: str | None = None  # "key" | "basic" | "bearer"
    error: ApiError | None = None
    weight: int = 1
    scopes: list[Scope] = field(default_factory=list)


def _auth_error(detail: str) -> ApiError:
    return ApiError(401, 1056, detail=detail)


def identify_phone(state: EmulatorState, headers: Mapping[str, str], remote_addr: str) -> Identity:
    key = headers.get("Lognex-Phone-Auth-Token", "").strip()
    account = state.account_by_phone_key(key) if key else None
    if account is None:
        # The Phone API has no other auth scheme (no Basic, no Bearer).
        return Identity(error=_auth_error("неверный или отсутствующий ключ доступа Lognex-Phone-Auth-Token"))
    ident = Identity(account=account, principal=account.name, auth_kind="key",
                     scopes=[("phone_key", account.name), ("phone_ip", remote_addr)])
    if account.blocked:
        ident.error = _auth_error("аккаунт заблокирован")
    elif not account.telephony_enabled:
        ident.error = ApiError(403, 55008)
    return ident


def identify_json(state: EmulatorState, headers: Mapping[str, str]) -> Identity:
    scheme, _, credential = headers.get("Authorization", "").strip().partition(" ")
    credential = credential.strip()
    knobs = state.knobs
    found: tuple[Account, User] | None = None
    if scheme.lower() == "basic" and credential:
        try:
            login, sep, password = base64.b64decode(credential, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return Identity(error=_auth_error("неверный заголовок Authorization"))
        if "@" not in login or not sep:
            return Identity(error=_auth_error(f"Неверный формат имени пользователя: {login}"))
        found = state.find_user(login)
        if found is None or found[1].password != password:
            return Identity(error=_auth_error("Неправильный пароль или имя пользователя"))
        kind, weight = "basic", knobs.json_weight_basic
    elif scheme.lower() == "bearer" and credential:
        found = state.user_by_token(credential)
        if found is None:
            return Identity(error=_auth_error("неверный или отозванный токен"))
        kind, weight = "bearer", knobs.json_weight_token
    else:
        return Identity(error=_auth_error("не указаны учетные данные"))
    account, user = found
    ident = Identity(account=account, user=user, principal=user.login, auth_kind=kind, weight=weight,
                     scopes=[("json_user", user.login), ("json_account", account.name)])
    if account.blocked:
        ident.error = _auth_error("аккаунт заблокирован")
    elif not user.api_access:
        ident.error = ApiError(403, 1061)
    return ident
