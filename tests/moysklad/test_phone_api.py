"""PhoneApiClient against ``responses``: headers, bodies, parsing, retries, the POST /call probe."""

from __future__ import annotations

import gzip
import json

import pytest
import requests
import responses
from responses import matchers

from ms_plugin.moysklad.context import bind_request_context
from ms_plugin.moysklad.errors import (
    AuthFailed,
    FeatureUnavailable,
    LimiterBusy,
    MalformedResponse,
    MoySkladError,
    NotFound,
    RateLimited,
    Unavailable,
    ValidationFailed,
)

from .conftest import JSON_API, PHONE, TOKEN, load

EXT = "1744019200.1234"
CALL_BODY = {"externalId": EXT, "number": "+79161234567", "isIncoming": True, "startTime": "2026-04-07 12:00:00",
             "extension": "201", "events": [{"eventType": "SHOW", "extension": "201", "sequence": 1}]}


def err(code: int, text: str = "Ошибка") -> dict:
    return {"errors": [{"error": text, "code": code}]}


@responses.activate
def test_create_call_sends_token_gzip_and_body_and_parses_the_call(phone, records):
    responses.add(responses.POST, f"{PHONE}/call", json=load("call_matched.json"),
                  match=[matchers.json_params_matcher(CALL_BODY)])
    call = phone.create_call(CALL_BODY)
    assert call.id == "5b1f0c2e-3a41-11f1-0a80-0c6a00000101" and call.counterparty_owner_extension == "205"
    headers = responses.calls[0].request.headers
    assert headers["Lognex-Phone-Auth-Token"] == TOKEN
    assert headers["Accept-Encoding"] == "gzip"
    assert headers["Accept"] == "application/json;charset=utf-8"
    assert headers["Content-Type"] == "application/json"
    assert "Authorization" not in headers and "Cookie" not in headers
    assert [(r.api, r.method, r.endpoint, r.status, r.outcome, r.attempt) for r in records] == [
        ("phone", "POST", "/call", 200, "ok", 1)]


@responses.activate
def test_create_call_timeout_then_probe_finds_it_and_does_not_create_again(phone, records):
    responses.add(responses.POST, f"{PHONE}/call", body=requests.exceptions.ReadTimeout("read timed out"))
    responses.add(responses.PUT, f"{PHONE}/call/extid/{EXT}", json=load("call_matched.json"),
                  match=[matchers.json_params_matcher({})])
    call = phone.create_call(CALL_BODY)
    assert call.external_id == "pbx-1744019200.1234"
    assert [(c.request.method, c.request.url) for c in responses.calls] == [
        ("POST", f"{PHONE}/call"), ("PUT", f"{PHONE}/call/extid/{EXT}")]
    assert [r.outcome for r in records] == ["timeout", "ok"]
    assert records[1].extra == {"probe": True}


@responses.activate
def test_create_call_dropped_connection_then_probe_404_creates_again(phone, records):
    # Several registrations of one URL answer in turn: the first POST fails, the second succeeds.
    responses.add(responses.POST, f"{PHONE}/call",
                  body=requests.exceptions.ConnectionError("Connection aborted: RemoteDisconnected"))
    responses.add(responses.POST, f"{PHONE}/call", json=load("call_unmatched.json"))
    responses.add(responses.PUT, f"{PHONE}/call/extid/{EXT}", status=404, json=err(1021))
    call = phone.create_call(CALL_BODY)
    assert call.id == "77e0a9c4-3a41-11f1-0a80-0c6a00000102"
    assert [c.request.method for c in responses.calls] == ["POST", "PUT", "POST"]
    assert [r.outcome for r in records] == ["connection_error", "client_error", "ok"]


@responses.activate
def test_create_call_refused_connection_is_resent_without_probe(phone):
    responses.add(responses.POST, f"{PHONE}/call",
                  body=requests.exceptions.ConnectionError(
                      requests.urllib3.exceptions.MaxRetryError(
                          None, "/call", requests.urllib3.exceptions.NewConnectionError(None, "refused"))))
    responses.add(responses.POST, f"{PHONE}/call", json=load("call_unmatched.json"))
    assert phone.create_call(CALL_BODY).id == "77e0a9c4-3a41-11f1-0a80-0c6a00000102"
    assert [c.request.method for c in responses.calls] == ["POST", "POST"]


@responses.activate
def test_create_call_duplicate_external_id_returns_the_existing_call(phone):
    responses.add(responses.POST, f"{PHONE}/call", status=412, json=err(3006, "externalId уже существует"))
    responses.add(responses.PUT, f"{PHONE}/call/extid/{EXT}", json=load("call_unmatched.json"))
    assert phone.create_call(CALL_BODY).id == "77e0a9c4-3a41-11f1-0a80-0c6a00000102"
    assert [c.request.method for c in responses.calls] == ["POST", "PUT"]


@responses.activate
def test_create_call_validation_error_is_not_retried(phone):
    responses.add(responses.POST, f"{PHONE}/call", status=412, json={"errors": [
        {"error": "поле 'startTime' не может быть пустым", "parameter": "startTime", "code": 3000}]})
    with pytest.raises(ValidationFailed) as info:
        phone.create_call(CALL_BODY)
    assert info.value.codes == (3000,) and info.value.parameter == "startTime"
    assert len(responses.calls) == 1


@responses.activate
def test_create_call_500_probes_before_trying_again(phone, clock):
    responses.add(responses.POST, f"{PHONE}/call", status=500, json=err(1999))
    responses.add(responses.PUT, f"{PHONE}/call/extid/{EXT}", status=404, json=err(1021))
    with pytest.raises(Unavailable):
        phone.create_call(CALL_BODY)
    methods = [c.request.method for c in responses.calls]
    assert methods == ["POST", "PUT"] * 4  # 4 attempts (background budget of the test), a probe after each


@responses.activate
def test_update_by_external_id_percent_encodes_the_id_and_raises_not_found(phone):
    responses.add(responses.PUT, f"{PHONE}/call/extid/a%2Fb%20c%3F", status=404,
                  json=err(1021, "Объект с типом 'call' не найден"))
    with pytest.raises(NotFound):
        phone.update_call_by_external_id("a/b c?", {"endTime": "2026-04-07 12:03:15"})
    assert len(responses.calls) == 1
    assert responses.calls[0].request.url == f"{PHONE}/call/extid/a%2Fb%20c%3F"


@responses.activate
def test_update_call_sends_partial_body(phone):
    body = {"endTime": "2026-04-07 12:03:15", "recordUrl": ["https://pbx/rec.mp3"], "comment": "Отвечен",
            "events": [{"eventType": "HIDE_ALL", "sequence": 3}]}
    responses.add(responses.PUT, f"{PHONE}/call/5b1f", json=load("call_matched.json"),
                  match=[matchers.json_params_matcher(body)])
    assert phone.update_call("5b1f", body).end_time == "2026-04-07 12:03:15.000"


@responses.activate
def test_send_event_accepts_204_and_200(phone):
    event = {"eventType": "SHOW", "extension": "201", "sequence": 1,
             "employee": phone.employee_meta("e-1")}
    responses.add(responses.POST, f"{PHONE}/call/c-1/event", status=204, match=[matchers.json_params_matcher(event)])
    responses.add(responses.POST, f"{PHONE}/call/extid/{EXT}/event", status=200, json={})
    phone.send_event("c-1", event)
    phone.send_event_by_external_id(EXT, {"eventType": "HIDE_ALL", "sequence": 9})
    assert event["employee"] == {"href": f"{JSON_API}/entity/employee/e-1", "type": "employee",
                                 "mediaType": "application/json"}


@responses.activate
def test_hot_event_gets_one_quick_retry_only(phone, clock, records):
    responses.add(responses.POST, f"{PHONE}/call/extid/{EXT}/event", status=503, json=err(1074))
    start = clock.now
    with pytest.raises(Unavailable):
        phone.send_event_by_external_id(EXT, {"eventType": "SHOW", "extension": "201", "sequence": 1})
    assert len(responses.calls) == 2
    assert clock.now - start <= 1.0  # the hot backoff is sub-second
    assert [r.attempt for r in records] == [1, 2]


@responses.activate
def test_hot_event_read_timeout_is_retried_once(phone):
    responses.add(responses.POST, f"{PHONE}/call/c-1/event", body=requests.exceptions.ReadTimeout("slow"))
    with pytest.raises(Unavailable) as info:
        phone.send_event("c-1", {"eventType": "HIDE", "extension": "201", "sequence": 2})
    assert len(responses.calls) == 2 and "timeout" in info.value.message


@responses.activate
def test_list_employees_filters_by_extention(phone):
    responses.add(responses.GET, f"{PHONE}/employee", json=load("phone_employees.json"),
                  match=[matchers.query_string_matcher("filter=extention=201")])
    employees = phone.list_employees("201")
    assert [e.extension for e in employees] == ["201", "202"]
    assert responses.calls[0].request.url == f"{PHONE}/employee?filter=extention=201"


@responses.activate
def test_list_employees_without_array_is_malformed(phone):
    responses.add(responses.GET, f"{PHONE}/employee", json={"rows": []})
    with pytest.raises(MalformedResponse):
        phone.list_employees()


@responses.activate
def test_exists_returns_none_on_404(phone):
    responses.add(responses.PUT, f"{PHONE}/call/extid/nope", status=404, json=err(1021))
    assert phone.exists("nope") is None


@responses.activate
def test_429_sets_the_cooldown_from_milliseconds_then_retries(phone, limiter, clock, records):
    responses.add(responses.PUT, f"{PHONE}/call/extid/{EXT}", status=429, json=err(1049),
                  headers={"X-Lognex-Retry-After": "1500"})
    responses.add(responses.PUT, f"{PHONE}/call/extid/{EXT}", json=load("call_unmatched.json"))
    start = clock.now
    phone.update_call_by_external_id(EXT, {"comment": "x"})
    assert limiter.cooldowns == [(phone.key, 1.5)]
    assert clock.now - start == pytest.approx(1.5)  # waited exactly the advertised time, in seconds
    assert [r.outcome for r in records] == ["rate_limited", "ok"]
    assert records[0].retry_after == pytest.approx(1.5) and records[0].error_codes == (1049,)


@responses.activate
def test_429_longer_than_the_budget_raises_rate_limited_without_sleeping(phone, limiter, clock):
    responses.add(responses.POST, f"{PHONE}/call/c-1/event", status=429, json=err(1049),
                  headers={"X-Lognex-Retry-After": "30000"})
    with pytest.raises(RateLimited) as info:
        phone.send_event("c-1", {"eventType": "SHOW", "extension": "201", "sequence": 1})
    assert info.value.retry_after == 30.0
    assert len(responses.calls) == 1 and clock.sleeps == []
    assert limiter.cooldowns == [(phone.key, 30.0)]  # every worker pauses anyway


@responses.activate
def test_auth_failure_is_raised_once_without_retry(phone):
    responses.add(responses.GET, f"{PHONE}/employee", status=401, json=err(1056, "Ошибка аутентификации"))
    with pytest.raises(AuthFailed) as info:
        phone.list_employees()
    assert info.value.permanent and len(responses.calls) == 1


@responses.activate
def test_no_telephony_solution_is_feature_unavailable(phone):
    responses.add(responses.GET, f"{PHONE}/employee", status=403, json=err(55008, "Не установлено решение"))
    with pytest.raises(FeatureUnavailable):
        phone.list_employees()


@responses.activate
def test_outage_is_retried_within_bounds_then_unavailable(phone, clock, limiter):
    responses.add(responses.PUT, f"{PHONE}/call/extid/{EXT}", status=503, json=err(1074))
    with pytest.raises(Unavailable):
        phone.update_call_by_external_id(EXT, {"comment": "x"})
    assert len(responses.calls) == 4
    assert clock.sleeps == [pytest.approx(0.375), pytest.approx(0.75), pytest.approx(1.5)]  # 2^n, jitter 0.5
    assert [result for _, result in limiter.released] == ["failure"] * 4


@responses.activate
def test_limiter_busy_sends_nothing(phone, limiter):
    limiter.busy = LimiterBusy(4.0, "circuit_open", phone.key)
    with pytest.raises(LimiterBusy) as info:
        phone.list_employees()
    assert info.value.retry_after == 4.0 and len(responses.calls) == 0


@responses.activate
def test_gzip_and_plain_answers_are_both_read(phone):
    raw = gzip.compress(json.dumps(load("phone_employees.json")).encode())
    responses.add(responses.GET, f"{PHONE}/employee", body=raw, headers={"Content-Encoding": "gzip"},
                  content_type="application/json")
    responses.add(responses.GET, f"{PHONE}/employee", json=load("phone_employees.json"))
    assert len(phone.list_employees()) == 2
    assert len(phone.list_employees()) == 2


@responses.activate
def test_html_200_is_malformed(phone):
    responses.add(responses.PUT, f"{PHONE}/call/extid/{EXT}", body="<html>maintenance</html>",
                  content_type="text/html")
    with pytest.raises(MalformedResponse):
        phone.update_call_by_external_id(EXT, {})


@responses.activate
def test_records_carry_context_and_never_the_token(phone, records):
    responses.add(responses.POST, f"{PHONE}/call", status=400,
                  json=err(2001, f"echo of a header: {TOKEN}"))
    with bind_request_context("100", EXT, "+79161234567"), pytest.raises(ValidationFailed):
        phone.create_call({**CALL_BODY, "comment": f"token={TOKEN}", "token": TOKEN})
    (record,) = records
    assert (record.enterprise_number, record.call_unique_id, record.phone) == ("100", EXT, "+79161234567")
    assert record.error_codes == (2001,) and record.request_body["externalId"] == EXT
    assert TOKEN not in repr(record)
    assert record.request_body["token"] == "***"


@responses.activate
def test_redirects_are_not_followed(phone):
    responses.add(responses.GET, f"{PHONE}/employee", status=301,
                  headers={"Location": "https://evil.invalid/steal"})
    with pytest.raises(MoySkladError) as info:
        phone.list_employees()
    assert info.value.status == 301 and info.value.permanent
    assert len(responses.calls) == 1


@responses.activate
def test_probe_answered_unknown_path_is_not_taken_for_a_missing_call(phone):
    responses.add(responses.POST, f"{PHONE}/call", body=requests.exceptions.ReadTimeout())
    responses.add(responses.PUT, f"{PHONE}/call/extid/{EXT}", status=404, json=err(1002, "Неопознанный путь"))
    with pytest.raises(NotFound) as info:
        phone.create_call(CALL_BODY)
    assert info.value.codes == (1002,)
    assert [c.request.method for c in responses.calls] == ["POST", "PUT"]  # never a second POST
