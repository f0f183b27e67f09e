"""Lookups through an enterprise's primary integration: the internal ``/customer-name`` and
``/responsible-extension`` routes, and the phone form every lookup is asked with.

Plugins are asked with E.164 (``+375291234567``) whatever the PBX delivered (``80291234567``,
``375291234567``), using the enterprise's ``default_region``: the replaced service only prefixed a
``+``, so national formats never matched. Hidden and garbage numbers are never looked up.
"""

from __future__ import annotations

import re
import time

import phonenumbers

from host_app import metrics
from host_app.integrations.contract import ApiError, Responsible
from host_app.state import HostState

_PHONE_CHARS = re.compile(r"^\+?[0-9()\-. ]{1,40}\Z")


def normalise_phone(raw: str | None, region: str) -> str | None:
    """E.164 when the number parses, else ``+``/digits as given; ``None`` for hidden or garbage numbers."""
    text = (raw or "").strip()
    if not _PHONE_CHARS.match(text):
        return None  # "", "anonymous", "<unknown>", letters
    digits = re.sub(r"\D", "", text)
    if len(digits) < 3:
        return None
    for candidate, hint in ((text, region), ("+" + digits, None)):
        try:
            number = phonenumbers.parse(candidate, hint)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return ("+" + digits) if text.startswith("+") else digits


def observe(route: str, started: float, outcome: str) -> None:
    metrics.LOOKUP_SECONDS.labels(route, outcome).observe(time.monotonic() - started)


class Lookups:
    """One lookup at a time, for the internal routes (Smart Redirect's own path is ``host_app.smart``)."""

    def __init__(self, state: HostState) -> None:
        self._state = state

    def _phone(self, enterprise_number: str, raw_phone: str) -> str | None:
        enterprise = self._state.services.enterprises.get(enterprise_number)
        if enterprise is None:
            raise ApiError(f"enterprise {enterprise_number} not found", code="not_found", status=404)
        return normalise_phone(raw_phone, enterprise.default_region)

    def customer_name(self, enterprise_number: str, raw_phone: str) -> str | None:
        started = time.monotonic()
        phone = self._phone(enterprise_number, raw_phone)
        if phone is None:
            observe("customer-name", started, "hidden")
            return None
        name = self._state.integrations.customer_name(enterprise_number, phone)
        observe("customer-name", started, "found" if name else "none")
        return name

    def responsible_extension(self, enterprise_number: str, raw_phone: str) -> Responsible | None:
        started = time.monotonic()
        phone = self._phone(enterprise_number, raw_phone)
        if phone is None:
            observe("responsible-extension", started, "hidden")
            return None
        found = self._state.integrations.responsible_extension(enterprise_number, phone)
        observe("responsible-extension", started, "found" if found and found.extension else "none")
        return found
