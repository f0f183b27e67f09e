"""Validation of every value that goes to the PBX (AMI headers, HTTP query parameters).

The replaced service pasted these values into a root SSH command line (vochi-upstream.md §2.8). Here nothing
reaches a shell, but AMI is a line protocol: a CR or LF in any header value would let a caller append their
own ``Action: Command``. So values are refused (not cleaned) when they carry CR, LF or NUL, and the
extension, phone and dialplan contexts must match strict patterns.
"""

from __future__ import annotations

import re
import unicodedata

from host_app.integrations.contract import PbxError

EXTENSION_RE = re.compile(r"[0-9]{2,6}")
PHONE_RE = re.compile(r"\+?[0-9]{3,20}")
CONTEXT_RE = re.compile(r"[A-Za-z0-9_-]{1,40}")
CALLER_NAME_MAX = 40
_LINE_BREAKERS = ("\r", "\n", "\0")
# Quotes and backslashes would end the quoted name in ``CallerID: "<name>" <phone>``; angle brackets
# would open a second number.
_NAME_DROPPED = frozenset('"\\<>')


def invalid(message: str) -> PbxError:
    return PbxError("invalid_value", message)


def check_field(name: str, value: object) -> str:
    """Any header or parameter value: a string without CR, LF or NUL that encodes to UTF-8."""
    if not isinstance(value, str):
        raise invalid(f"{name} must be a string")
    if any(ch in value for ch in _LINE_BREAKERS):
        raise invalid(f"{name} contains CR, LF or NUL")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid(f"{name} is not valid text") from None
    return value


def _check_pattern(name: str, value: object, pattern: re.Pattern[str], what: str) -> str:
    text = check_field(name, value)
    # fullmatch, not match + "$": "$" also matches before a trailing "\n".
    if not pattern.fullmatch(text):
        raise invalid(f"{name} must be {what}")
    return text


def check_extension(value: object) -> str:
    return _check_pattern("extension", value, EXTENSION_RE, "2 to 6 digits")


def check_phone(value: object) -> str:
    return _check_pattern("phone", value, PHONE_RE, "3 to 20 digits with an optional leading '+'")


def check_context(name: str, value: object) -> str:
    return _check_pattern(name, value, CONTEXT_RE, "1 to 40 of A-Z, a-z, 0-9, '_' and '-'")


def sanitize_caller_name(value: object) -> str:
    """A display name safe for ``CallerID`` and the ``extcall/nextname_<ext>`` database entry.

    Turns whitespace (tabs, Unicode line separators) into single spaces and collapses it; drops other
    control and format characters (escape sequences, bidi overrides), ``"``, ``\\``, ``<`` and ``>``;
    keeps at most 40 characters. Callers that must refuse rather than clean CR/LF (the AMI client) check
    the raw value with :func:`check_field` first.
    """
    if not isinstance(value, str):
        return ""
    kept = (
        " " if ch.isspace() else ch  # tabs and line separators become spaces, then collapse
        for ch in value
        if ch not in _NAME_DROPPED and (ch.isspace() or unicodedata.category(ch)[0] != "C")
    )
    return " ".join("".join(kept).split())[:CALLER_NAME_MAX].rstrip()
