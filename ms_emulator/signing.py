"""Click-to-call: the signed request MoySklad sends to the telephony provider (reference §4, §6.1).

The doc says only "MD5 over the concatenation of the user's access key and the values of the request
parameters"; order, case and key placement are unspecified and the doc's own example matches no
interpretation. So every plausible variant is offered and none is authoritative:

* upper_key_first (default): UPPER(hex(md5(key + srcNumber + destNumber + uid)))
* lower_key_first: the same in lower-case hex
* key_last: UPPER(hex(md5(srcNumber + destNumber + uid + key)))
* alphabetical: values ordered by parameter name (destNumber, srcNumber, uid), key first, upper-case
* raw_body: UPPER(hex(md5(key + the raw request body)))
"""
from __future__ import annotations

import hashlib
import json
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

VARIANTS = ("upper_key_first", "lower_key_first", "key_last", "alphabetical", "raw_body")
BODY_FORMATS = ("json", "form")
ALLOWED_HOSTS = ("127.0.0.1", "localhost")


def build_body(src_number: str, dest_number: str, uid: str, body_format: str = "json") -> bytes:
    fields = {"srcNumber": src_number, "destNumber": dest_number, "uid": uid}
    if body_format == "form":
        return urlencode(fields).encode("utf-8")
    if body_format != "json":
        raise ValueError(f"body_format must be one of {BODY_FORMATS}")
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign(key: str, src_number: str, dest_number: str, uid: str, variant: str = "upper_key_first",
         raw_body: bytes | None = None) -> str:
    """The `Lognex-Content-MD5` value for one of the VARIANTS (raw_body defaults to the JSON body)."""
    if variant == "raw_body":
        body = raw_body if raw_body is not None else build_body(src_number, dest_number, uid)
        return hashlib.md5(key.encode("utf-8") + body).hexdigest().upper()
    if variant in ("upper_key_first", "lower_key_first"):
        material = key + src_number + dest_number + uid
    elif variant == "key_last":
        material = src_number + dest_number + uid + key
    elif variant == "alphabetical":
        material = key + dest_number + src_number + uid
    else:
        raise ValueError(f"unknown signature variant {variant!r}; known: {', '.join(VARIANTS)}")
    digest = hashlib.md5(material.encode("utf-8")).hexdigest()
    return digest if variant == "lower_key_first" else digest.upper()


def check_url(url: str) -> None:
    """The emulator only ever calls a provider on this machine."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.hostname not in ALLOWED_HOSTS:
        raise ValueError("click-to-call URLs must be http(s)://127.0.0.1 or localhost")


def click_to_call(url: str, key: str, src_number: str, dest_number: str, uid: str,
                  variant: str = "upper_key_first", body_format: str = "json",
                  timeout: float = 10.0) -> dict[str, Any]:
    """POST the signed request to the provider and report what it answered."""
    check_url(url)
    body = build_body(src_number, dest_number, uid, body_format)
    signature = sign(key, src_number, dest_number, uid, variant, raw_body=body)
    content_type = "application/json" if body_format == "json" else "application/x-www-form-urlencoded"
    headers = {"Content-Type": content_type, "Lognex-Content-MD5": signature}
    result: dict[str, Any] = {
        "url": url, "variant": variant, "body_format": body_format,
        "request": {"headers": headers, "body": body.decode("utf-8")},
        "status": None, "body": None, "json": None, "error": None,
    }
    started = time.perf_counter()
    with requests.Session() as session:
        session.trust_env = False  # never route a local call through an environment proxy
        try:
            response = session.post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
        except requests.RequestException as exc:
            result["error"] = f"{type(exc).__name__}: {exc}"
        else:
            result["status"] = response.status_code
            result["body"] = response.text
            try:
                result["json"] = response.json()
            except ValueError:
                result["json"] = None
    result["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 3)
    return result
