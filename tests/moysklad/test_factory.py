"""ClientFactory, the SSRF guard for tenant URLs, and the MS_* settings."""

from __future__ import annotations

import datetime as dt

import pytest
from marshmallow import ValidationError

from ms_plugin.moysklad.factory import ClientFactory, TenantCredentials, validate_api_url
from ms_plugin.moysklad.settings import MsClientSettings, scheduled_json_weight
from ms_plugin.moysklad.transport import Transport

from .conftest import API_TOKEN, LOGIN, PASSWORD, TOKEN

ALLOWED = ["api.moysklad.ru", "127.0.0.1", "localhost", "::1"]


@pytest.mark.parametrize(("url", "expected"), [
    ("https://api.moysklad.ru/api/remap/1.2", "https://api.moysklad.ru/api/remap/1.2"),
    ("https://API.MoySklad.ru:8443/api/phone/1.0/", "https://api.moysklad.ru:8443/api/phone/1.0"),
    ("https://api.moysklad.ru./api/remap/1.2", "https://api.moysklad.ru/api/remap/1.2"),
    ("http://127.0.0.1:18080/api/phone/1.0", "http://127.0.0.1:18080/api/phone/1.0"),
    ("http://localhost:5000/x", "http://localhost:5000/x"),
    ("http://[::1]:5000/x", "http://[::1]:5000/x"),
])
def test_allowed_urls_are_normalised(url, expected):
    assert validate_api_url(url, ALLOWED) == expected


@pytest.mark.parametrize(("url", "why"), [
    ("http://api.moysklad.ru/api/remap/1.2", "https"),
    ("https://evil.invalid/api", "not allowed"),
    ("https://api.moysklad.ru.evil.invalid/api", "not allowed"),
    ("https://api.moysklad.ru@evil.invalid/api", "credentials"),
    ("https://user:pw@api.moysklad.ru/api", "credentials"),
    ("https://evil.invalid#@api.moysklad.ru/", "query or fragment"),
    ("https://evil.invalid\\@api.moysklad.ru/", "backslash"),
    ("https://api.moysklad.ru/api?x=1", "query or fragment"),
    ("https://api.moysklad.ru:99999/api", "not a valid URL"),
    ("ftp://api.moysklad.ru/api", "https"),
    ("file:///etc/passwd", "https"),
    ("https:///api", "no host"),
    ("", "empty"),
    ("https://api.moysklad.ru/a b", "whitespace"),
    ("https://169.254.169.254/latest/meta-data", "not allowed"),
])
def test_refused_urls_say_why(url, why):
    with pytest.raises(ValueError, match=why):
        validate_api_url(url, ALLOWED)


def test_http_needs_a_loopback_host_even_when_the_host_is_allowed():
    with pytest.raises(ValueError, match="https"):
        validate_api_url("http://emulator.internal:80/api", ["emulator.internal"])


def creds(version: int = 1, **kw) -> TenantCredentials:
    base = {"integration_code": TOKEN, "login": LOGIN, "password": PASSWORD}
    return TenantCredentials.from_section("100", version, {**base, **kw})


@pytest.fixture
def factory(limiter):
    return ClientFactory(Transport(), limiter, None, MsClientSettings())


def test_clients_are_cached_per_config_version_and_dropped(factory):
    first = factory.clients(creds(1))
    assert factory.clients(creds(1)) is first
    second = factory.clients(creds(2))
    assert second is not first and second.phone is not first.phone
    assert list(factory._cache) == [("100", 2)]  # the old version is forgotten
    factory.drop("100")
    assert factory.clients(creds(2)) is not second


def test_token_wins_and_missing_credentials_give_none(factory):
    clients = factory.clients(creds(api_token=API_TOKEN))
    assert clients.remap is not None and clients.remap._auth_headers()["Authorization"] == f"Bearer {API_TOKEN}"
    bare = factory.clients(TenantCredentials.from_section("200", 1, {"integration_code": TOKEN, "login": ""}))
    assert bare.remap is None and bare.phone is not None
    nothing = factory.clients(TenantCredentials.from_section("300", 1, {}))
    assert nothing.phone is None and nothing.remap is None


def test_default_and_overridden_base_urls(limiter):
    settings = MsClientSettings.from_environ({"MS_ALLOWED_API_HOSTS": "api.moysklad.ru, 127.0.0.1"})
    factory = ClientFactory(Transport(), limiter, None, settings)
    clients = factory.clients(creds())
    assert clients.phone.base_url == "https://api.moysklad.ru/api/phone/1.0"
    assert clients.phone.json_base_url == "https://api.moysklad.ru/api/remap/1.2"
    local = factory.clients(creds(5, api_url="http://127.0.0.1:9/api/remap/1.2",
                                  phone_api_url="http://127.0.0.1:9/api/phone/1.0"))
    assert local.remap.base_url == "http://127.0.0.1:9/api/remap/1.2"
    assert local.phone.json_base_url == "http://127.0.0.1:9/api/remap/1.2"
    with pytest.raises(ValueError, match="not allowed"):
        factory.clients(TenantCredentials.from_section("101", 1, {"integration_code": TOKEN,
                                                                  "phone_api_url": "https://10.0.0.1/x"}))


def test_credentials_and_clients_repr_hide_secrets(factory):
    clients = factory.clients(creds(api_token=API_TOKEN))
    text = repr(creds(api_token=API_TOKEN)) + repr(clients)
    assert TOKEN not in text and PASSWORD not in text and API_TOKEN not in text


def test_settings_defaults_and_overrides():
    s = MsClientSettings.from_environ({})
    assert (s.phone_rate, s.phone_capacity, s.json_units, s.json_parallel) == (100, 95, 45, 5)
    assert s.allowed_api_hosts == ("api.moysklad.ru",)
    s = MsClientSettings.from_environ({"MS_PHONE_RATE": "40", "MS_PHONE_RATE_MARGIN": "0", "MS_JSON_WEIGHT": "4",
                                       "MS_HOT_READ_TIMEOUT": "", "PATH": "/bin", "MS_UNRELATED": "x"})
    assert (s.phone_capacity, s.json_weight, s.hot_read_timeout) == (40, 4, 5.0)


@pytest.mark.parametrize("env", [
    {"MS_PHONE_RATE": "many"}, {"MS_PHONE_RATE": "0"}, {"MS_API_URL": "ftp://x"},
    {"MS_JSON_WEIGHT": "46"}, {"MS_BACKOFF_BASE": "5", "MS_BACKOFF_MAX": "1"}, {"MS_ALLOWED_API_HOSTS": " , "},
])
def test_bad_settings_name_the_key(env):
    with pytest.raises(ValidationError) as info:
        MsClientSettings.from_environ(env)
    assert set(info.value.messages) & set(env)


@pytest.mark.parametrize(("day", "weight"), [
    (dt.date(2026, 5, 11), 1), (dt.date(2026, 5, 12), 2), (dt.date(2026, 8, 31), 2),
    (dt.date(2026, 9, 1), 3), (dt.date(2026, 11, 30), 3), (dt.date(2026, 12, 1), 4), (dt.date(2027, 6, 1), 4),
])
def test_json_weight_follows_moysklads_schedule(day, weight):
    assert scheduled_json_weight(day) == weight


def test_json_weight_uses_the_moscow_date():
    s = MsClientSettings()
    late_utc = dt.datetime(2026, 11, 30, 21, 30, tzinfo=dt.timezone.utc).timestamp()  # 00:30 on 1 Dec in MSK
    assert s.json_weight_on(late_utc) == 4
    assert MsClientSettings(json_weight=2).json_weight_on(late_utc) == 2


def test_from_environ_wires_settings_transport_and_the_pg_limiter(pg):
    from ms_plugin.moysklad.limiter import PgLimiter
    from ms_plugin.moysklad.metrics import observe_metrics

    factory = ClientFactory.from_environ(pg, {"MS_HTTP_POOL_SIZE": "9", "MS_CIRCUIT_THRESHOLD": "7"})
    assert factory.transport.pool_maxsize == 9 and factory.observer is observe_metrics
    assert isinstance(factory.limiter, PgLimiter) and factory.limiter.circuit_threshold == 7
