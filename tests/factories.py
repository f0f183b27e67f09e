"""Plain factory functions for test data (no ORM)."""

from __future__ import annotations

from typing import Any

import psycopg2
from psycopg2.extras import Json


def make_enterprise(db_url: str, number: str = "0367", *, token: str | None = None, name: str | None = None,
                    active: bool = True, integrations_config: dict[str, Any] | None = None,
                    pbx: dict[str, Any] | None = None, timezone: str = "Europe/Minsk",
                    default_region: str = "BY", secret: str | None = None) -> dict[str, Any]:
    token = token or f"tok{number}"
    conn = psycopg2.connect(db_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO enterprises (number, name, token, secret, active, timezone, default_region, pbx, "
                "integrations_config) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (number, name or f"Enterprise {number}", token, secret, active, timezone, default_region,
                 Json(pbx) if pbx else None, Json(integrations_config or {})),
            )
        conn.commit()
    finally:
        conn.close()
    return {"number": number, "token": token}


def sql(db_url: str, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    conn = psycopg2.connect(db_url)
    try:
        with conn.cursor() as cur:
            cur.execute(query, params)
            rows = cur.fetchall() if cur.description else []
        conn.commit()
        return rows
    finally:
        conn.close()
