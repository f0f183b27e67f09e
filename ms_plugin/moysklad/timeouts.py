"""The two time budgets of a MoySklad call.

* ``hot``: call-card events, where a late card is worthless: connect 3.05 s, read 5 s, at most one quick
  retry, a short limiter wait (then the caller skips or defers).
* ``background``: call records, clients, orders, tasks: connect 3.05 s, read 30 s (MoySklad's advice is
  not to retry merely because an answer is slow), more attempts and a longer limiter wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

BudgetName = Literal["hot", "background"]


@dataclass(frozen=True)
class Budget:
    connect: float
    read: float
    max_attempts: int
    total: float  # seconds for the whole call, waits and retries included
    max_wait: float  # longest limiter wait per attempt before LimiterBusy
    backoff_base: float = 0.5
    backoff_max: float = 8.0


@dataclass(frozen=True)
class Timeouts:
    hot: Budget = Budget(3.05, 5.0, 2, 10.0, 1.0, 0.2, 1.0)
    background: Budget = Budget(3.05, 30.0, 5, 120.0, 15.0, 0.5, 8.0)
    slot_ttl_margin: float = 5.0  # an in-flight lease outlives connect + read by this much

    @classmethod
    def from_settings(cls, s: Any) -> Timeouts:
        """From :class:`MsClientSettings`; the hot backoff is capped at 0.2 s / 1 s (a *quick* retry)."""
        return cls(
            hot=Budget(s.connect_timeout, s.hot_read_timeout, s.hot_max_attempts, s.hot_budget, s.hot_max_wait,
                       min(s.backoff_base, 0.2), min(s.backoff_max, 1.0)),
            background=Budget(s.connect_timeout, s.background_read_timeout, s.background_max_attempts,
                              s.background_budget, s.background_max_wait, s.backoff_base, s.backoff_max),
            slot_ttl_margin=s.slot_ttl_margin)

    def get(self, name: BudgetName) -> Budget:
        return self.hot if name == "hot" else self.background
