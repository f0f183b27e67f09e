"""Blueprint ``ms``: admin page and API, MoySklad's click-to-call webhook, internal routes."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("ms", __name__, template_folder="../templates", static_folder="../static",
               static_url_path="/ms/static")
