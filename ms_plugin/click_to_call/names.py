"""The caller-ID name shown on the employee's handset while it rings for a click-to-call.

It travels in the AMI ``CallerID`` header (``"<name>" <number>``) and in ``DBPut extcall
nextname_<ext>``, which the PBX's dialplan reads back. The host's AMI client refuses a name with CR/LF
and cleans the rest, but it is not ours to rely on: the HTTP control service path and whatever dialplan
reads the database entry deserve a name that is plain text. So, besides control and format characters
(escape sequences, bidi overrides), the characters that delimit the CallerID value and those a shell or
the dialplan treats specially are dropped. The replaced service sent the name through a root shell
(vochi-upstream.md §2.8); a company called ``$(reboot)`` is now just ``(reboot)``.
"""

from __future__ import annotations

import unicodedata

CALLER_NAME_MAX = 40
_DROPPED = frozenset('"\\<>`$;|&\'{}')


def sanitize_caller_name(value: object, *, fallback: str = "") -> str:
    """At most 40 characters of plain, single-line text; ``fallback`` when nothing is left."""
    if not isinstance(value, str):
        return fallback
    kept = (
        " " if ch.isspace() else ch  # tabs and line separators become spaces, then collapse
        for ch in value[:1000]
        if ch not in _DROPPED and (ch.isspace() or unicodedata.category(ch)[0] != "C")
    )
    name = " ".join("".join(kept).split())[:CALLER_NAME_MAX].rstrip()
    return name or fallback
