"""The Flask application factory of the emulator."""
from __future__ import annotations

from flask import Flask

from . import inspection, json_api, pipeline
from .phone import routes as phone_routes
from .state import EmulatorState
from .wsgi import DropConnectionMiddleware


def create_emulator(state: EmulatorState | None = None) -> Flask:
    """A MoySklad emulator (Phone API 1.0, JSON API 1.2 subset, `/_emulator/` control API) on `state`
    (a fresh one when omitted; reach it as `app.extensions["ms_emulator"]`)."""
    app = Flask("ms_emulator")
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["ms_emulator"] = state if state is not None else EmulatorState()
    pipeline.install(app)
    app.register_blueprint(phone_routes.bp)
    json_api.register(app)
    app.register_blueprint(inspection.bp)
    app.wsgi_app = DropConnectionMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    return app
