"""gunicorn settings for ``python -m bench --profile``: the product's ``gunicorn.conf.py`` unchanged, plus
the sampling profiler (``bench/profiler.py``) in every worker. Nothing of this touches the product."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

_product = Path(__file__).resolve().parents[1] / "gunicorn.conf.py"
exec(compile(_product.read_text(), str(_product), "exec"))  # noqa: S102 - our own settings file

_product_worker_exit = globals().get("worker_exit")


def post_worker_init(worker: Any) -> None:
    from bench import profiler

    profiler.start(os.environ["BENCH_PROFILE_DIR"])


def worker_exit(server: Any, worker: Any) -> None:  # noqa: F811 - wraps the product's hook
    if _product_worker_exit is not None:
        _product_worker_exit(server, worker)
    from bench import profiler

    profiler.stop()
