"""Prometheus counters of the call flow (summed across gunicorn workers by the host's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter

CALLS = Counter("ms_calls_total", "Calls finished in MoySklad", ["direction", "outcome"])
CARD_EVENTS = Counter("ms_card_events_total", "Call-card events sent to MoySklad", ["event_type"])
CLIENTS_CREATED = Counter("ms_clients_created_total", "Counterparties created for unknown callers")
ORDERS_CREATED = Counter("ms_orders_created_total", "Customer orders created from calls")
TASKS_CREATED = Counter("ms_missed_call_tasks_total", "Missed-call follow-ups created", ["kind"])
STEP_FAILURES = Counter("ms_call_step_failures_total", "Call-flow steps that failed or were postponed",
                        ["step", "kind"])
