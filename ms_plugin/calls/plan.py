"""What MoySklad should have of a call, against what it has: the next Phone API write (pure).

Rules from contract §6:
* one call per PBX call, ``externalId`` = its UniqueId; created when the first card must show, or when
  the call has ended (no card needed: one POST carries everything);
* ``extension``/``employee``/``counterparty``/``startTime`` are write-once on MoySklad's side: sent only
  once known for sure (the answerer from the bridge, never guessed from a ring group);
* ``endTime`` and ``duration`` (ms) only at the end; ``recordUrl`` only for answered calls, each URL once;
* cards: ``during`` — SHOW to each mapped ringing extension, STARTTIME to the answerer and HIDE to the
  others at answer, HIDE_ALL at hangup; outgoing — SHOW to the caller only; ``after`` — one card at
  hangup (hidden later by the sweeper); replays never show cards;
* writes are batched: everything pending rides on the next request; field-only changes of a call still
  in progress wait for the next card event or the end (they are not worth a request of their own).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ms_plugin.calls.comment import HIDDEN_NUMBER, build_comment
from ms_plugin.calls.model import CallRecord, Done, Facts
from ms_plugin.calls.timefmt import from_msk, parse_pbx, to_msk
from ms_plugin.config.schema import TenantConfig


@dataclass(frozen=True)
class TenantView:
    """What the planner needs to know about the tenant."""

    timezone: str
    cfg: TenantConfig
    mapping: Mapping[str, str]  # PBX extension -> employee id (explicit mapping + MoySklad's own extensions)
    ms_extension: Mapping[str, str]  # employee id -> the employee's MoySklad extension
    employee_ref: Callable[[str], dict[str, Any]]  # employee id -> bare meta (Phone API style)
    counterparty_ref: Callable[[str], dict[str, Any]]


@dataclass
class PhoneWrite:
    create: bool
    body: dict[str, Any]
    urgent: bool  # carries card events (or creates the call that must carry them)
    marks: dict[str, Any] = field(default_factory=dict)  # Done fields to set once it succeeded
    add_shown: list[str] = field(default_factory=list)
    add_started: list[str] = field(default_factory=list)
    add_hidden: list[str] = field(default_factory=list)
    record_urls: list[str] = field(default_factory=list)

    def apply(self, done: Done) -> None:
        for key, value in self.marks.items():
            setattr(done, key, value)
        done.shown += [x for x in self.add_shown if x not in done.shown]
        done.started += [x for x in self.add_started if x not in done.started]
        done.hidden += [x for x in self.add_hidden if x not in done.hidden]
        done.record_urls_sent += [u for u in self.record_urls if u not in done.record_urls_sent]
        done.created = True


def cards_enabled(facts: Facts, cfg: TenantConfig) -> bool:
    if not facts.live or cfg.notifications.call_notify_mode == "none":
        return False
    if facts.direction == "in":
        return cfg.notifications.notify_incoming
    return cfg.notifications.notify_outgoing


def possibly_shown(facts: Facts, view: TenantView) -> list[str]:
    """Every extension a card write planned at any moment of this call could have shown a card to (the
    ringing ones, the caller, the answerer): what a lost create may have left on screens."""
    if not cards_enabled(facts, view.cfg) or view.cfg.notifications.call_notify_mode == "after":
        return []
    candidates = [*facts.ringing, facts.caller_ext, facts.answerer]
    return list(dict.fromkeys(x for x in candidates if x and x in view.mapping))


def employee_fields(ext: str, view: TenantView) -> dict[str, Any]:
    """``extension`` is the employee's MoySklad extension when it has one, else the PBX extension."""
    emp = view.mapping.get(ext)
    if emp is None:
        return {"extension": ext}
    return {"extension": view.ms_extension.get(emp) or ext, "employee": view.employee_ref(emp)}


def _card(event_type: str, ext: str, view: TenantView) -> dict[str, Any]:
    return {"eventType": event_type, **employee_fields(ext, view)}


def _wanted_cards(facts: Facts, done: Done, view: TenantView) -> tuple[list[dict[str, Any]], PhoneWrite]:
    """Card events still to send, in order: SHOWs, STARTTIME, HIDEs, then HIDE_ALL alone."""
    write = PhoneWrite(create=False, body={}, urgent=False)
    events: list[dict[str, Any]] = []
    cfg = view.cfg
    if not cards_enabled(facts, cfg):
        return events, write
    mapped = lambda exts: [e for e in exts if e in view.mapping]  # noqa: E731
    if cfg.notifications.call_notify_mode == "after":
        if facts.hung_up and not done.after_card:
            target = facts.answerer if facts.is_answered else next(iter(mapped(facts.ringing)), None)
            if facts.direction == "out":
                target = facts.caller_ext
            if target and target in view.mapping:
                events.append(_card("SHOW", target, view))
                write.add_shown.append(target)
            write.marks["after_card"] = True
        return events, write
    if facts.hung_up:
        if done.shown and not done.hide_all:
            events.append({"eventType": "HIDE_ALL"})
            write.marks["hide_all"] = True
        return events, write
    if done.hide_all:
        return events, write
    answered = facts.is_answered
    answerer = facts.answerer if answered else None
    if facts.direction == "out":
        targets = mapped([facts.caller_ext] if facts.caller_ext else [])
    elif answered:  # whoever took it (maybe a mobile, unknown to us): no new card but theirs
        targets = mapped([answerer] if answerer else [])
    else:
        targets = mapped(facts.ringing)
    for ext in targets:
        if ext not in done.shown:
            events.append(_card("SHOW", ext, view))
            write.add_shown.append(ext)
    if answerer is not None and answerer in view.mapping and answerer not in done.started:
        events.append(_card("STARTTIME", answerer, view))
        write.add_started.append(answerer)
    if answered and facts.direction == "in":
        for ext in done.shown:
            if ext != answerer and ext not in done.hidden:
                events.append(_card("HIDE", ext, view))
                write.add_hidden.append(ext)
    return events, write


def start_time(facts: Facts, tz: str, now: dt.datetime) -> dt.datetime:
    """The event's own time when it has one (a call known from its hangup alone: a replay, a lost
    dial), else the moment its first event arrived (start/dial carry no time)."""
    if not facts.dial_seen:
        own = parse_pbx(facts.pbx_start, tz)
        if own is not None:
            return own
    return facts.first_event_time or now


def final_times(facts: Facts, sent_start: dt.datetime, tz: str) -> tuple[dt.datetime, int]:
    """endTime and duration (ms). The PBX's own start/end give the length, so a skew between the PBX's
    clock and ours never shows as a wrong duration."""
    pbx_start, pbx_end = parse_pbx(facts.pbx_start, tz), parse_pbx(facts.pbx_end, tz)
    if pbx_start is not None and pbx_end is not None and pbx_end >= pbx_start:
        length = pbx_end - pbx_start
    else:
        end = facts.hangup_time or pbx_end or sent_start
        length = max(end - sent_start, dt.timedelta(0))
    return sent_start + length, int(length.total_seconds() * 1000)


def next_write(rec: CallRecord, view: TenantView, *, now: dt.datetime, hidden: bool,
               number: str | None, force_fields: bool = False) -> PhoneWrite | None:
    """The next request to send, or None when MoySklad is up to date (or nothing is worth a request)."""
    facts, done = rec.facts, rec.done
    events, write = _wanted_cards(facts, done, view)
    needs_create = not done.created and (bool(events) or facts.hung_up or force_fields)
    if not done.created and not needs_create:
        return None
    body: dict[str, Any] = {}
    if needs_create:
        begin = start_time(facts, view.timezone, now)
        write.marks["start_time_sent"] = to_msk(begin)
        body.update({"externalId": rec.unique_id, "number": HIDDEN_NUMBER if hidden else number,
                     "isIncoming": facts.direction == "in", "startTime": to_msk(begin)})
    # Fields known for sure that MoySklad does not have yet.
    who = facts.answerer if (facts.direction == "out" or facts.is_answered) else None
    if who and not done.employee_sent and (facts.direction == "out" or facts.hung_up or facts.answered):
        body.update(employee_fields(who, view))
        write.marks["employee_sent"] = True
        write.marks["employee_id"] = view.mapping.get(who)
    if done.counterparty_id and not done.counterparty_sent and not hidden:
        body["counterparty"] = view.counterparty_ref(done.counterparty_id)
        write.marks["counterparty_sent"] = True
    if facts.hung_up:
        if not done.finalized:
            sent = from_msk(write.marks.get("start_time_sent") or done.start_time_sent or to_msk(now))
            end, duration = final_times(facts, sent, view.timezone)
            body["endTime"] = to_msk(end)
            body["duration"] = duration
            write.marks["finalized"] = True
        comment = build_comment(facts, tz=view.timezone, hidden=hidden, crm_originated=facts.crm_originated,
                                extra="несколько клиентов с этим номером" if done.ambiguous else None)
        if comment != done.comment_sent:
            body["comment"] = comment
            write.marks["comment_sent"] = comment
        if facts.is_answered:
            new_urls = [u for u in facts.record_urls if u not in done.record_urls_sent]
            if new_urls:
                body["recordUrl"] = new_urls
                write.record_urls = new_urls
    if events:
        seq = done.sequence
        for event in events:
            seq += 1
            event["sequence"] = seq
        body["events"] = events
        write.marks["sequence"] = seq
        write.urgent = True
    if not body:
        return None
    if not needs_create and not events and not facts.hung_up and not force_fields:
        return None  # a field-only change of a call in progress rides on the next write
    write.create = needs_create
    write.body = body
    write.urgent = write.urgent or (needs_create and bool(events))
    return write
