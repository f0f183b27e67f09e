"""Migrations: applied once per owner and file, idempotent, safe when many runners start together."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg2
import pytest

from host_app.integrations.registry import load
from host_app.migrations import MigrationSet, apply_migrations, migration_sets_for
from tests.conftest import INTEGRATIONS, _with_db
from tests.factories import sql

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_db(pg_admin_url: str) -> Iterator[Callable[[], str]]:
    """Make empty databases on the shared server; every one is dropped after the test."""
    admin = psycopg2.connect(pg_admin_url)
    admin.autocommit = True
    names: list[str] = []

    def make() -> str:
        name = f"mig_{uuid.uuid4().hex[:10]}"
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        names.append(name)
        return _with_db(pg_admin_url, name)

    yield make
    with admin.cursor() as cur:
        for name in names:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


@pytest.fixture
def probe_set(tmp_path: Path) -> MigrationSet:
    """A plugin-like set whose files are NOT idempotent and count how often they ran.

    The first file is slow, so concurrent runners really overlap.
    """
    directory = tmp_path / "probe_migrations"
    directory.mkdir()
    (directory / "0001_runs.sql").write_text(
        "CREATE TABLE probe_runs (file text NOT NULL);\n"
        "INSERT INTO probe_runs VALUES ('0001');\n"
        "SELECT pg_sleep(0.3);\n")
    (directory / "0002_more.sql").write_text(
        "CREATE TABLE probe_more (x int);\n"
        "INSERT INTO probe_runs VALUES ('0002');\n")
    return MigrationSet("probe", directory)


def real_sets() -> list[MigrationSet]:
    return migration_sets_for(load(INTEGRATIONS.split(",")))


def expected(sets: list[MigrationSet]) -> list[str]:
    return [f"{s.owner}/{p.stem}" for s in sets for p in s.files()]


def test_migrations_are_recorded_per_owner_and_a_second_run_applies_nothing(fresh_db, probe_set):
    url = fresh_db()
    sets = [*real_sets(), probe_set]

    first = apply_migrations(url, sets)
    second = apply_migrations(url, sets)

    assert first == expected(sets)
    assert "host/0001_init" in first and "ms/0001_init" in first
    assert second == []
    rows = sql(url, "SELECT owner, version FROM schema_migrations ORDER BY owner, version")
    assert [f"{o}/{v}" for o, v in rows] == sorted(expected(sets))
    assert sql(url, "SELECT file FROM probe_runs ORDER BY file") == [("0001",), ("0002",)]


def test_a_new_file_of_one_owner_is_applied_alone_and_versions_are_per_owner(fresh_db, probe_set, tmp_path):
    url = fresh_db()
    apply_migrations(url, [probe_set])
    # Another owner may use the same version names: they are different migrations.
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    (other_dir / "0001_runs.sql").write_text("CREATE TABLE other_probe (x int);")
    (probe_set.directory / "0003_late.sql").write_text("INSERT INTO probe_runs VALUES ('0003');")

    applied = apply_migrations(url, [probe_set, MigrationSet("other", other_dir)])

    assert applied == ["probe/0003_late", "other/0001_runs"]
    assert sql(url, "SELECT count(*) FROM probe_runs")[0][0] == 3


def test_a_failing_file_is_rolled_back_and_not_recorded(fresh_db, probe_set):
    url = fresh_db()
    (probe_set.directory / "0003_broken.sql").write_text(
        "INSERT INTO probe_runs VALUES ('0003');\nSELECT no_such_function();")

    with pytest.raises(psycopg2.Error):
        apply_migrations(url, [probe_set])

    assert sql(url, "SELECT version FROM schema_migrations ORDER BY version") == [("0001_runs",), ("0002_more",)]
    assert sql(url, "SELECT count(*) FROM probe_runs WHERE file = '0003'")[0][0] == 0
    (probe_set.directory / "0003_broken.sql").write_text("INSERT INTO probe_runs VALUES ('0003');")
    assert apply_migrations(url, [probe_set]) == ["probe/0003_broken"]


def test_concurrent_runners_in_threads_apply_each_file_exactly_once(fresh_db, probe_set):
    url = fresh_db()
    sets = [*real_sets(), probe_set]
    results: list[list[str]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def run() -> None:
        try:
            barrier.wait()
            results.append(apply_migrations(url, sets))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    applied = [item for result in results for item in result]
    assert sorted(applied) == sorted(expected(sets))  # each file once, by one runner
    assert sql(url, "SELECT count(*) FROM probe_runs")[0][0] == 2


def test_two_processes_migrating_one_fresh_database_at_once_apply_each_file_exactly_once(
        fresh_db, probe_set, tmp_path):
    url = fresh_db()
    go = tmp_path / "go"
    script = textwrap.dedent(f"""
        import json, os, sys, time
        from pathlib import Path
        from host_app.integrations.registry import load
        from host_app.migrations import MigrationSet, apply_migrations, migration_sets_for
        sets = migration_sets_for(load({INTEGRATIONS!r}.split(",")))
        sets.append(MigrationSet("probe", Path({str(probe_set.directory)!r})))
        while not Path({str(go)!r}).exists():  # start together once both have imported everything
            time.sleep(0.005)
        print(json.dumps(apply_migrations({url!r}, sets)))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    time.sleep(0.05)
    go.touch()
    outputs = [p.communicate(timeout=60) for p in procs]

    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
    applied = [item for out, _err in outputs for item in json.loads(out.strip().splitlines()[-1])]
    assert sorted(applied) == sorted(expected([*real_sets(), probe_set]))
    assert sql(url, "SELECT count(*) FROM probe_runs")[0][0] == 2
