"""MoySklad JSON API 1.2 subset (`/api/remap/1.2`) needed by a telephony integration."""
from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    from . import counterparty, directory, orders

    for module in (counterparty, directory, orders):
        app.register_blueprint(module.bp)
