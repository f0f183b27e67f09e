"""PBX originate: the host's :class:`~host_app.integrations.contract.PbxAdapter`.

:class:`PbxRouter` reads the enterprise's ``pbx`` setting (validated by :class:`PbxConfigSchema` on every
call, so a bad stored value fails as ``not_configured`` instead of half-working) and hands the originate to
the AMI client or to the HTTP control service client. Nothing is cached: each originate uses a fresh
connection, and a config change applies to the next click.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests
from marshmallow import ValidationError

from host_app.integrations.contract import PbxError
from host_app.pbx.ami import AmiClient
from host_app.pbx.http import DEFAULT_TIMEOUT, HttpPbxClient
from host_app.pbx.schema import PbxConfigSchema

__all__ = ["AmiClient", "HttpPbxClient", "PbxConfigSchema", "PbxError", "PbxRouter"]

PbxConfigSource = Callable[[str], Mapping[str, Any] | None]


class PbxRouter:
    """``originate(enterprise_number, extension, phone, caller_name) -> attempt id``; raises PbxError.

    ``timeout_s`` bounds one AMI originate as a whole (connect, login, ringing the extension until its
    OriginateResponse); the HTTP client uses ``http_timeout`` (connect, read).
    """

    def __init__(
        self,
        pbx_config: PbxConfigSource,
        *,
        timeout_s: float = 30.0,
        connect_timeout_s: float = 3.0,
        io_timeout_s: float = 5.0,
        http_timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        http_session: requests.Session | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self._pbx_config = pbx_config
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._io_timeout_s = io_timeout_s
        self._http_timeout = http_timeout
        self._http_session = http_session
        self._log = logger or logging.getLogger(__name__)

    def config_for(self, enterprise_number: str) -> dict[str, Any]:
        """The enterprise's validated ``pbx`` setting; PbxError ``not_configured`` when absent or invalid."""
        raw = self._pbx_config(enterprise_number)
        if not raw:
            raise PbxError("not_configured", f"enterprise {enterprise_number} has no pbx settings")
        if not isinstance(raw, Mapping):
            raise PbxError("not_configured", f"enterprise {enterprise_number} has invalid pbx settings: pbx")
        try:
            loaded: dict[str, Any] = PbxConfigSchema().load(dict(raw))
        except ValidationError as exc:
            # Field names only: the messages of some validators could echo a value (a secret).
            fields = ", ".join(sorted(str(key) for key in _error_keys(exc.messages)))
            raise PbxError("not_configured", f"enterprise {enterprise_number} has invalid pbx settings: {fields}") from None
        return loaded

    def originate(self, enterprise_number: str, extension: str, phone: str, caller_name: str) -> str:
        started = time.monotonic()
        kind = "?"
        try:
            config = self.config_for(enterprise_number)
            kind = config["kind"]
            attempt = self._dispatch(config, extension, phone, caller_name)
        except PbxError as exc:
            self._log.warning(
                "originate enterprise=%s ext=%s phone=%s kind=%s failed: %s (%s) after %d ms", enterprise_number,
                extension if isinstance(extension, str) else "?", phone if isinstance(phone, str) else "?",
                kind, exc.code, exc.message, (time.monotonic() - started) * 1000,
            )
            raise
        self._log.info("originate enterprise=%s ext=%s phone=%s kind=%s ok in %d ms (%s)", enterprise_number,
                       extension, phone, kind, (time.monotonic() - started) * 1000, attempt)
        return attempt

    def _dispatch(self, config: Mapping[str, Any], extension: str, phone: str, caller_name: str) -> str:
        if config["kind"] == "ami":
            client = AmiClient(
                config["host"], config["port"], config["username"], config["secret"], tls=config["tls"],
                connect_timeout_s=self._connect_timeout_s, io_timeout_s=self._io_timeout_s, logger=self._log,
            )
            return client.originate(extension, phone, caller_name, context=config["context"],
                                    dial_context=config["dial_context"], timeout_s=self._timeout_s)
        http = HttpPbxClient(config["url"], config["client_id"], timeout=self._http_timeout,
                             session=self._http_session, logger=self._log)
        return http.originate(extension, phone)


def _error_keys(messages: Any) -> list[str]:
    if isinstance(messages, Mapping):
        return [str(key) for key in messages]
    return ["pbx"]
