"""The host's HTTP routes, one small module per concern."""

from __future__ import annotations

from flask import Flask


def register_views(app: Flask) -> None:
    from host_app.views import dispatch, enterprises, health, login, lookups

    app.register_blueprint(health.bp)
    app.register_blueprint(dispatch.bp)
    app.register_blueprint(enterprises.bp)
    app.register_blueprint(login.bp)
    app.register_blueprint(lookups.bp)
