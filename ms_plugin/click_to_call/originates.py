"""Pending click-to-call originates, for the call flow (contract §9, last point).

When the call flow classifies a ``CallType 1`` dial, it asks :func:`match_originate` whether that dial is
the conversation a MoySklad user just asked for. The first such dial from the extension we rang to the
number we dialled, within 60 s of the click, is: the originate is marked ``matched`` (atomically, once)
and the answer is True. ``ExternalInitiated`` is not consulted: it is unreliable.

The PBX may report the number in another form than we dialled (``80291234567`` for ``375291234567``, with
or without ``+``), so numbers are compared by their last 9 digits (the subscriber part that every
national and international spelling of a BY/RU/KZ number shares); a shorter number must be a suffix of
what we dialled. Only the originate's own extension is considered, so the suffix rule cannot pick up
another employee's call.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from ms_plugin.click_to_call import repo

MATCH_WINDOW_S = 60.0
COMPARE_DIGITS = 9
_MIN_DIGITS = 6  # shorter is an extension or garbage, never an external number we dialled
_EXTENSION = re.compile(r"[0-9]{2,6}")
_NON_DIGITS = re.compile(r"[^0-9]")


def comparable_digits(phone_raw: object) -> str | None:
    """The digits a dial's ``Phone`` is compared by: the last 9, or all of a shorter (6-8 digit) number."""
    if isinstance(phone_raw, int) and not isinstance(phone_raw, bool):
        phone_raw = str(phone_raw)
    if not isinstance(phone_raw, str) or len(phone_raw) > 64:
        return None
    digits = _NON_DIGITS.sub("", phone_raw)
    if len(digits) < _MIN_DIGITS:
        return None
    return digits[-COMPARE_DIGITS:]


def match_originate(conn: Any, ent: str, extension: str, phone_raw: object, within_s: float = MATCH_WINDOW_S,
                    *, at: dt.datetime | None = None, unique_id: str | None = None) -> bool:
    """True when this dial (from ``extension`` to ``phone_raw``) is a pending click-to-call originate.

    Runs in ``conn``'s transaction: when the caller rolls back, the match is undone with it. ``at``: when
    the dial happened (default: now); ``unique_id``: the dial's UniqueId, stored on the originate, and a
    second question about the same UniqueId (a re-run of its job) gets the same True.
    """
    ext = extension.strip(" ") if isinstance(extension, str) else ""
    if not _EXTENSION.fullmatch(ext):
        return False
    digits = comparable_digits(phone_raw)
    if digits is None:
        return False
    return repo.match(conn, ent, ext, digits, within_s=within_s, at=at, unique_id=unique_id) is not None


def get(conn: Any, ent: str, originate_id: int) -> dict[str, Any] | None:
    """One originate row (tests, the admin's journal view)."""
    return repo.get_originate(conn, ent, originate_id)
