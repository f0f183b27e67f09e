"""``Lognex-Content-MD5``: the signature MoySklad puts on a click-to-call request (reference §4, §6.1).

The documentation says only "MD5 over the concatenation of the user's access key and the values of the
request parameters": no order, no separators, no hex case, and its own example matches no reading of it.
So every plausible reading is accepted (the ones the emulator and field implementations use) and the
caller journals which one matched; once production shows the real one, the others can be dropped.

* ``upper_key_first`` / ``lower_key_first``: md5(key + srcNumber + destNumber + uid), upper or lower hex;
* ``key_last``: md5(srcNumber + destNumber + uid + key);
* ``alphabetical``: the values ordered by parameter name (destNumber, srcNumber, uid), key first;
* ``raw_body``: md5(key + the request body exactly as received).

Hex case is not part of the secret, so every digest is compared case-insensitively; the case that came
is reported (``key_last`` in lower case is ``key_last_lower``). All candidates are always compared, each
with :func:`hmac.compare_digest`, so the time taken does not tell an attacker which reading got closer.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

HEADER = "Lognex-Content-MD5"
VARIANTS: tuple[str, ...] = ("upper_key_first", "lower_key_first", "key_last", "alphabetical", "raw_body")
_HEX32 = re.compile(r"[0-9A-Fa-f]{32}")


@dataclass(frozen=True)
class SignatureCheck:
    ok: bool
    variant: str | None  # the matching reading, e.g. "upper_key_first"; None on a mismatch
    reason: str  # "matched" | "missing" | "malformed" | "no_key" | "mismatch"

    def journal(self) -> dict[str, object]:
        return {"ok": self.ok, "variant": self.variant, "reason": self.reason}


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def candidates(key: str, src_number: str, dest_number: str, uid: str, raw_body: bytes) -> dict[str, str]:
    """Each reading's digest in lower-case hex (``upper_key_first``/``lower_key_first`` share one)."""
    def values(*parts: str) -> bytes:
        return "".join(parts).encode("utf-8")

    return {
        "key_first": _md5(values(key, src_number, dest_number, uid)),
        "key_last": _md5(values(src_number, dest_number, uid, key)),
        "alphabetical": _md5(values(key, dest_number, src_number, uid)),
        "raw_body": _md5(key.encode("utf-8") + raw_body),
    }


def _name(material: str, header: str) -> str:
    upper = header == header.upper()
    if material == "key_first":
        return "upper_key_first" if upper else "lower_key_first"
    # The emulator's other variants are upper-case; name a lower-case arrival so the journal shows it.
    return material if upper else f"{material}_lower"


def verify(key: str | None, header: str | None, *, src_number: str, dest_number: str, uid: str,
           raw_body: bytes) -> SignatureCheck:
    """Check ``header`` against every known reading; never raises."""
    if not key:
        return SignatureCheck(False, None, "no_key")
    if header is None or not header.strip():
        return SignatureCheck(False, None, "missing")
    given = header.strip()
    if not _HEX32.fullmatch(given):
        return SignatureCheck(False, None, "malformed")
    lowered = given.lower().encode("ascii")
    matched: str | None = None
    for material, digest in candidates(key, src_number, dest_number, uid, raw_body).items():
        # No early exit: every candidate costs the same whatever matched.
        if hmac.compare_digest(lowered, digest.encode("ascii")) and matched is None:
            matched = material
    if matched is None:
        return SignatureCheck(False, None, "mismatch")
    return SignatureCheck(True, _name(matched, given), "matched")
