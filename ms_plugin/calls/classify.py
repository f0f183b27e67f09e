"""Which UniqueId is a call (contract §6 "Which UniqueId is the call").

Decided once, on the first event we see for a UniqueId:

* ``start``/``dial`` of an internal call (CallType 2, or a short Phone with an empty Trunk) → internal;
* a CallType 1 ``dial`` while an incoming call is live, whose Extensions hold that call's caller number
  (a follow-me leg to a manager's mobile) or the extension talking in it (a consultation leg) → a leg
  of it, unless it is the conversation a MoySklad user just asked for (a pending click-to-call
  originate). An extension that is only *ringing* in a live call proves nothing: in a busy office that
  is most extensions, and taking their own outgoing calls for legs would lose those calls;
* any other ``start``/``dial`` → a call of its own;
* a live ``hangup`` with CallType 2 (a consultation leg's or an internal call's end) → internal;
* a replayed (``origin=download``) hangup of an external call → a call, created from the hangup alone;
* a live CallType 0/1 ``hangup`` or a ``bridge`` → pending: its start/dial may still be on its way (events
  arrive out of order). A pending hangup becomes a call after a grace period (a lost dial); a pending
  bridge is just kept (an extension channel's bridge is never a call).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from host_app.integrations.contract import CallEvent
from ms_plugin.calls.model import KIND_CALL, KIND_INTERNAL, KIND_LEG, KIND_PENDING, CallRecord
from ms_plugin.calls.pbx_event import call_type, extensions, ext_only, looks_internal, text
from ms_plugin.phones import normalize


@dataclass(frozen=True)
class Decision:
    kind: str
    parent: str | None = None
    crm_originated: bool = False
    reason: str = ""


def classify(event: CallEvent, *, region: str, live_incoming: Callable[[], Iterable[CallRecord]],
             originate_matches: Callable[[str, str], bool],
             recent_calls_from: Callable[[list[str]], Iterable[CallEvent]] = lambda tails: ()) -> Decision:
    raw = event.raw
    kind = event.event_type
    if kind in ("start", "dial"):
        if looks_internal(raw):
            return Decision(KIND_INTERNAL, reason="internal call (CallType 2 or a short number without trunk)")
        if kind == "dial" and call_type(raw) == 1:
            caller_ext = next(iter(ext_only(extensions(raw))), None)
            if caller_ext and originate_matches(caller_ext, text(raw, "Phone")):
                return Decision(KIND_CALL, crm_originated=True, reason="click-to-call from MoySklad")
            parent = follow_me_parent(raw, region, live_incoming(), at=event) or _unprocessed_parent(
                raw, region, recent_calls_from, at=event)
            if parent is not None:
                return Decision(KIND_LEG, parent=parent, reason="leg of a live incoming call")
        return Decision(KIND_CALL, reason=f"{kind} of a new call")
    if kind == "hangup":
        if call_type(raw) == 2 or looks_internal(raw):
            return Decision(KIND_INTERNAL, reason="hangup of an internal call or a consultation leg")
        if event.origin == "download":
            return Decision(KIND_CALL, reason="replayed hangup without a live dial")
        return Decision(KIND_PENDING, reason="hangup before its start/dial")
    return Decision(KIND_PENDING, reason=f"{kind} before its start/dial")


def _target_numbers(raw: Mapping[str, Any], region: str) -> set[str]:
    return {n.e164 for n in (normalize(t, region) for t in extensions(raw)) if n is not None}


def follow_me_parent(raw: Mapping[str, Any], region: str, live_incoming: Iterable[CallRecord], *,
                     at: CallEvent) -> str | None:
    """The incoming call (already processed) that was live when this CallType 1 dial arrived, if any.

    "Live" as of the dial, not as of now: under a backlog the parent's hangup may be processed first."""
    target_numbers = _target_numbers(raw, region)
    target_exts = set(ext_only(extensions(raw)))
    if not target_numbers and not target_exts:
        return None
    for call in live_incoming:
        facts = call.facts
        ended = facts.hangup_time
        if facts.hung_up and (ended is None or ended <= at.received_at):
            continue
        if call.phone and call.phone in target_numbers:
            return call.unique_id
        talking = {e for e in (facts.answered_ext, facts.leg_answer_ext) if e}
        if target_exts & talking:
            return call.unique_id
    return None


def _unprocessed_parent(raw: Mapping[str, Any], region: str,
                        recent_calls_from: Callable[[list[str]], Iterable[CallEvent]], *, at: CallEvent) -> str | None:
    """The same caller-number rule over stored events: the parent's own jobs may not have run yet."""
    target_numbers = _target_numbers(raw, region)
    if not target_numbers:
        return None
    tails = sorted({n[-9:] for n in target_numbers})
    events = list(recent_calls_from(tails))
    ended = {e.unique_id for e in events if e.event_type == "hangup" and e.id < at.id}
    for event in reversed(events):  # the most recent call first
        if (event.event_type in ("start", "dial") and call_type(event.raw) == 0 and not looks_internal(event.raw)
                and event.unique_id not in ended):
            number = normalize(text(event.raw, "Phone"), region)
            if number is not None and number.e164 in target_numbers:
                return event.unique_id
    return None
