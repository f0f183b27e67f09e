"""Log format for the service (one line per record, to stderr, which ms.sh sends to var/log/ms.log)."""

from __future__ import annotations

import logging
import os


def configure_logging() -> None:
    level = os.environ.get("HOST_LOG_LEVEL", "INFO").upper()
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    # urllib3 logs every retry at WARNING with the full URL; our client journals them already.
    logging.getLogger("urllib3").setLevel(logging.ERROR)
