"""Enterprise-scoped admin tokens: minted by the global admin, stored as sha256, shown once.

Nothing caches them (``HostAuth`` reads ``admin_tokens`` on every request), so a revocation takes effect
at once for Bearer calls and for the sessions opened with the token, without a cache notification.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from host_app.auth import hash_token, mint_token
from host_app.enterprise_admin import config_change, not_found
from host_app.integrations.contract import ApiError, Principal
from host_app.state import HostState


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, dt.datetime) else None


class AdminTokens:
    def __init__(self, state: HostState) -> None:
        self._db = state.services.db
        self._journal = state.services.journal

    def mint(self, number: str, label: str | None, who: Principal) -> dict[str, Any]:
        token = mint_token()
        with self._db.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT 1 FROM enterprises WHERE number = %s FOR SHARE", (number,))
            if cur.fetchone() is None:
                raise not_found(number)
            cur.execute("INSERT INTO admin_tokens (enterprise_number, token_hash, label) VALUES (%s, %s, %s) "
                        "RETURNING id, created_at", (number, hash_token(token), label))
            token_id, created = cur.fetchone()
            self._journal.write(config_change(number, who, f"admin_token:{token_id}", "create", ["admin_tokens"]),
                                conn=conn)
        return {"id": token_id, "token": token, "label": label, "created_at": _iso(created)}

    def list(self, number: str) -> list[dict[str, Any]]:
        with self._db.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT 1 FROM enterprises WHERE number = %s", (number,))
            if cur.fetchone() is None:
                raise not_found(number)
            cur.execute("SELECT id, label, created_at, last_used_at FROM admin_tokens "
                        "WHERE enterprise_number = %s ORDER BY id", (number,))
            rows = cur.fetchall()
        return [{"id": r[0], "label": r[1], "created_at": _iso(r[2]), "last_used_at": _iso(r[3])} for r in rows]

    def revoke(self, number: str, token_id: int, who: Principal) -> None:
        with self._db.connection() as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM admin_tokens WHERE id = %s AND enterprise_number = %s", (token_id, number))
            if not cur.rowcount:
                raise ApiError(f"admin token {token_id} of enterprise {number} not found",
                               code="not_found", status=404)
            self._journal.write(config_change(number, who, f"admin_token:{token_id}", "delete", ["admin_tokens"]),
                                conn=conn)
