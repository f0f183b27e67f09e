"""gunicorn's target (``host_app.wsgi:app``). Imported in each worker after fork (``preload_app = False``),
so gevent has patched the standard library before Flask, requests, ssl or psycopg2 are touched."""

from __future__ import annotations

from host_app import create_app
from host_app.logging_setup import configure_logging

configure_logging()
app = create_app()
