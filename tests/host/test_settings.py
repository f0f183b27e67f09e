"""Process settings: a bad environment stops the boot with every problem listed; secrets under var/."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from host_app import create_app
from host_app.settings import SettingsError, load_settings

REPO = Path(__file__).resolve().parents[2]
GOOD_DB = "postgresql://postgres@127.0.0.1:1/never_connected"


def clean_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """A minimal valid environment; nothing of the developer's own environment leaks in."""
    env = {"DATABASE_URL": GOOD_DB, "HOST_VAR_DIR": str(tmp_path / "var"), "HOST_BACKGROUND": "false",
           "HOST_INTEGRATIONS": "tests.plugins.echo:plugin"}
    env.update(overrides)
    return env


# Several independent mistakes, each in a different field.
FIELD_ERRORS = {
    "DATABASE_URL": "mysql://root@db/app",
    "HOST_BIND": "everywhere",
    "HOST_ADMIN_TOKEN": "short",
    "HOST_DB_POOL_SIZE": "0",
    "HOST_JOURNAL_RETENTION_DAYS": "ninety",
}


def test_bad_settings_stop_create_app_with_every_field_error_listed(tmp_path):
    with pytest.raises(SettingsError) as err:
        create_app(clean_env(tmp_path, **FIELD_ERRORS))

    assert set(err.value.errors) == set(FIELD_ERRORS)
    message = str(err.value)
    assert message.startswith("invalid settings, the host will not start:")
    for name in FIELD_ERRORS:
        assert f"  {name}: " in message
    assert "must be a postgresql:// URL" in message and "must be host:port" in message


def test_schema_level_problems_are_listed_together_with_field_errors(tmp_path):
    with pytest.raises(SettingsError) as err:
        load_settings(clean_env(tmp_path, DATABASE_URL="mysql://x", HOST_INTEGRATIONS="no_colon",
                                PUBLIC_BASE_URL="ftp://example.com"))
    assert {"DATABASE_URL", "HOST_INTEGRATIONS", "PUBLIC_BASE_URL"} <= set(err.value.errors)


def test_a_public_non_loopback_url_requires_the_internal_token(tmp_path):
    with pytest.raises(SettingsError) as err:
        load_settings(clean_env(tmp_path, PUBLIC_BASE_URL="https://pbx.example.com"))
    assert "HOST_INTERNAL_TOKEN" in err.value.errors
    settings = load_settings(clean_env(tmp_path, PUBLIC_BASE_URL="https://pbx.example.com/",
                                       HOST_INTERNAL_TOKEN="i" * 32))
    assert settings.public_base_url == "https://pbx.example.com"
    assert settings.public_is_https


def test_a_missing_database_url_is_reported(tmp_path):
    env = clean_env(tmp_path)
    del env["DATABASE_URL"]
    with pytest.raises(SettingsError) as err:
        load_settings(env)
    assert "DATABASE_URL" in err.value.errors


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO), **env}
    return subprocess.run([sys.executable, "-m", "host_app", *args], cwd=REPO, env=full_env,
                          capture_output=True, text=True, timeout=60)


def test_check_settings_exits_2_and_prints_each_problem(tmp_path):
    result = run_cli(clean_env(tmp_path, **FIELD_ERRORS), "check-settings")

    assert result.returncode == 2, result.stdout + result.stderr
    for name in FIELD_ERRORS:
        assert name in result.stderr
    assert "Traceback" not in result.stderr


def test_check_settings_exits_2_for_a_plugin_that_cannot_load(tmp_path):
    result = run_cli(clean_env(tmp_path, HOST_INTEGRATIONS="no_such_plugin_module:plugin"), "check-settings")
    assert result.returncode == 2
    assert "no_such_plugin_module" in result.stderr


def test_check_settings_accepts_a_good_environment(tmp_path):
    result = run_cli(clean_env(tmp_path, HOST_INTEGRATIONS="ms_plugin:plugin,tests.plugins.echo:plugin"),
                     "check-settings")
    assert result.returncode == 0, result.stderr
    assert "settings ok; integrations: ms, echo" in result.stdout


# ------------------------------------------------------------------------------------- var/ secrets


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_admin_token_and_secret_key_are_created_once_with_mode_0600_and_reused(tmp_path):
    first = load_settings(clean_env(tmp_path))
    var = tmp_path / "var"

    for name, value in (("admin-token", first.admin_token), ("secret-key", first.secret_key)):
        assert mode(var / name) == 0o600
        assert (var / name).read_text().strip() == value
        assert len(value) >= 32
    assert first.admin_token != first.secret_key

    second = load_settings(clean_env(tmp_path))
    assert (second.admin_token, second.secret_key) == (first.admin_token, first.secret_key)


def test_explicit_tokens_win_and_leave_var_alone(tmp_path):
    settings = load_settings(clean_env(tmp_path, HOST_ADMIN_TOKEN="a" * 20, HOST_SECRET_KEY="s" * 20))
    assert (settings.admin_token, settings.secret_key) == ("a" * 20, "s" * 20)
    assert not (tmp_path / "var" / "admin-token").exists()


def test_an_existing_token_file_is_read_not_replaced(tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    (var / "admin-token").write_text("made-by-ms-sh-start-0123456789\n")
    os.chmod(var / "admin-token", 0o600)
    assert load_settings(clean_env(tmp_path)).admin_token == "made-by-ms-sh-start-0123456789"


def test_an_empty_token_file_stops_the_boot_with_a_clear_message(tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    (var / "secret-key").write_text("")
    with pytest.raises(SettingsError) as err:
        load_settings(clean_env(tmp_path))
    assert "exists but is empty" in str(err.value)


def _gunicorn_conf_hook(var: Path, env: dict[str, Any]) -> None:
    code = (f"import runpy; conf = runpy.run_path({str(REPO / 'gunicorn.conf.py')!r}); "
            "conf['on_starting'](None)")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60,
                   env={"PATH": os.environ.get("PATH", ""), "HOST_VAR_DIR": str(var), **env})


def test_gunicorns_master_creates_the_secrets_before_any_worker_starts(tmp_path):
    var = tmp_path / "var"
    _gunicorn_conf_hook(var, {})
    for name in ("admin-token", "secret-key"):
        assert mode(var / name) == 0o600
        assert len((var / name).read_text().strip()) >= 32
    before = (var / "admin-token").read_text()
    _gunicorn_conf_hook(var, {})
    assert (var / "admin-token").read_text() == before
    assert load_settings(clean_env(tmp_path)).admin_token == before.strip()


def test_gunicorns_master_leaves_var_alone_when_the_environment_has_the_secrets(tmp_path):
    var = tmp_path / "var"
    _gunicorn_conf_hook(var, {"HOST_ADMIN_TOKEN": "a" * 20, "HOST_SECRET_KEY": "s" * 20})
    assert not (var / "admin-token").exists() and not (var / "secret-key").exists()
