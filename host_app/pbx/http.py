"""Originate calls through the existing PBX control service: ``GET url?code=<ext>&phone=<phone>&clientId=<id>``.

The service (upstream ``asterisk.py`` on 8018) turns the request into PBX commands itself; we only make sure
our values are well formed (the same checks as for AMI) and that ``requests`` encodes them as parameters.
``clientId`` is a credential: it never appears in a log line or an error message (``requests`` puts the
full URL, query string included, into its exception texts, so those texts are not passed on).
"""

from __future__ import annotations

import logging
import uuid
from urllib.parse import urlsplit

import requests

from host_app.integrations.contract import PbxError
from host_app.pbx.values import check_extension, check_field, check_phone

DEFAULT_TIMEOUT: tuple[float, float] = (3.05, 10.0)  # (connect, read): a bit over a TCP retransmit window


def check_http_url(url: object) -> str:
    """An absolute http(s) URL with a host, no credentials, no fragment and no whitespace."""
    text = check_field("url", url)
    parts = urlsplit(text)
    if (
        parts.scheme not in ("http", "https") or not parts.hostname or parts.username is not None
        or parts.password is not None or parts.fragment or any(ch.isspace() for ch in text) or len(text) > 2000
    ):
        raise PbxError("not_configured", "pbx url must be an absolute http:// or https:// URL without credentials")
    return text


class HttpPbxClient:
    def __init__(
        self,
        url: str,
        client_id: str,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.url = check_http_url(url)
        self._client_id = check_field("client_id", client_id)
        self._timeout = timeout
        self._session = session  # None: a one-off session per call (requests.get closes it)
        self._log = logger or logging.getLogger(__name__)

    def originate(self, extension: str, phone: str) -> str:
        """Ask the control service to ring ``extension`` and dial ``phone``; returns a local attempt id."""
        params = {"code": check_extension(extension), "phone": check_phone(phone), "clientId": self._client_id}
        attempt = f"http-{uuid.uuid4().hex}"
        try:
            # No redirects: a 3xx from the control service is a misconfiguration, and following it would
            # send clientId to wherever it points.
            get = self._session.get if self._session is not None else requests.get
            response = get(self.url, params=params, timeout=self._timeout, allow_redirects=False)
        except requests.ConnectTimeout:
            raise PbxError("unreachable", "the PBX control service did not accept the connection in time") from None
        except requests.Timeout:
            raise PbxError("timeout", "the PBX control service did not answer in time") from None
        except requests.RequestException as exc:
            raise PbxError("unreachable", f"cannot reach the PBX control service ({type(exc).__name__})") from None
        status = response.status_code
        response.close()
        if 200 <= status < 300:
            self._log.info("HTTP originate %s: %s -> %s accepted (%s)", attempt, extension, phone, status)
            return attempt
        if status in (401, 403):
            raise PbxError("auth_failed", f"the PBX control service refused our clientId (HTTP {status})")
        raise PbxError("originate_failed", f"the PBX control service answered HTTP {status}")
