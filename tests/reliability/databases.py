"""A database of one's own on a PostgreSQL server: created and migrated for every plugin the e2e services
load, dropped afterwards (``pg_admin_url`` is a server's ``postgres`` database)."""

from __future__ import annotations

import os
import uuid

import psycopg2

from tests.e2e.harness import E2E_INTEGRATIONS


def create_database(pg_admin_url: str, prefix: str) -> str:
    from host_app.integrations.registry import load
    from host_app.migrations import apply_migrations, migration_sets_for

    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = psycopg2.connect(pg_admin_url)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        admin.close()
    url = pg_admin_url.rpartition("/")[0] + f"/{name}"
    apply_migrations(url, migration_sets_for(load(E2E_INTEGRATIONS.split(","))))
    return url


def drop_database(pg_admin_url: str, url: str) -> None:
    name = url.rpartition("/")[2]
    admin = psycopg2.connect(pg_admin_url)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        admin.close()
