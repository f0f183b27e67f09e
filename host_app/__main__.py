"""Operator commands: ``python -m host_app migrate|check-settings|run-jobs``."""

from __future__ import annotations

import argparse
import sys

from host_app.logging_setup import configure_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m host_app")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply the host's and every plugin's migrations")
    sub.add_parser("check-settings", help="validate the environment and the plugins, then exit")
    sub.add_parser("run-jobs", help="run every due background job once, in this process")
    args = parser.parse_args(argv)
    configure_logging()

    from host_app.integrations.registry import IntegrationLoadError, load
    from host_app.settings import SettingsError, load_settings

    try:
        settings = load_settings()
        registry = load(settings.integrations)
    except (SettingsError, IntegrationLoadError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if args.command == "check-settings":
        print("settings ok; integrations: " + ", ".join(registry.codes()))
        return 0
    if args.command == "migrate":
        from host_app.migrations import apply_migrations, migration_sets_for

        applied = apply_migrations(settings.database_url, migration_sets_for(registry))
        print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
        return 0
    from host_app import create_app
    from host_app.state import host_state

    app = create_app({"HOST_BACKGROUND": "false"})
    done = host_state(app).runner.drain()
    print(f"ran {done} jobs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
