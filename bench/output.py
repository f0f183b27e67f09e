"""The bench's only ways to speak: progress lines on stderr, the final table on stdout.

Progress goes to stderr so that ``python -m bench > table.txt`` keeps just the table; every line carries
the seconds since the start, which is how a reader sees where the five minutes went.
"""

from __future__ import annotations

import sys
import time

_T0 = time.monotonic()


class BenchError(RuntimeError):
    """A component is missing or misbehaves: the bench stops and says what and where to look."""


def progress(message: str) -> None:
    sys.stderr.write(f"bench [{time.monotonic() - _T0:6.1f}s] {message}\n")
    sys.stderr.flush()


def emit(text: str) -> None:
    """The final table (the one thing written to stdout)."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def elapsed() -> float:
    return time.monotonic() - _T0
