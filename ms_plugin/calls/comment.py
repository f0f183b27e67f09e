"""The call's comment: «Входящий · Отвечен · доб. 151 · линия 0001363 · ожидание 12 с · разговор 38 с».

MoySklad's call has no status field (anchors.md §2.1): answered/missed lives in the comment. The PBX
does not report "busy" apart from other failures (CallStatus "0" covers BUSY, NOANSWER, CANCEL…).
"""

from __future__ import annotations

from ms_plugin.calls.model import Facts
from ms_plugin.calls.timefmt import parse_pbx, seconds_between

HIDDEN_NUMBER = "Скрытый номер"


def outcome_word(facts: Facts) -> str:
    if facts.is_answered:
        return "Отвечен"
    status = facts.call_status
    if status in (None, "", "0"):
        return "Пропущенный" if facts.direction == "in" else "Без ответа"
    return f"Не состоялся (статус {status})"


def durations(facts: Facts, tz: str) -> tuple[int | None, int | None, int | None]:
    """(waiting, talking, total) in seconds; None where unknown.

    The total comes from the PBX's own start/end when it sent them; the waiting time from when our
    events arrived (dial → answer), both on one clock each, so a skew between the PBX's clock and ours
    never shows. Talking is the rest, so waiting + talking = total.
    """
    total = seconds_between(parse_pbx(facts.pbx_start, tz), parse_pbx(facts.pbx_end, tz))
    if total is None:
        total = seconds_between(facts.first_event_time, facts.hangup_time)
    if not facts.is_answered:
        return total, None, total
    waiting = seconds_between(facts.first_event_time, facts.answered_time)
    if waiting is None or total is None:
        return None, None, total
    waiting = min(waiting, total)
    return waiting, total - waiting, total


def build_comment(facts: Facts, *, tz: str, hidden: bool, crm_originated: bool = False,
                  extra: str | None = None) -> str:
    parts = ["Входящий" if facts.direction == "in" else "Исходящий"]
    if crm_originated:
        parts.append("из МойСклад")
    if facts.hung_up:
        parts.append(outcome_word(facts))
    else:
        parts.append("идёт разговор" if facts.is_answered else "вызов")
    who = facts.answerer
    if who:
        parts.append(f"доб. {who}")
    if facts.trunk:
        parts.append(f"линия {facts.trunk}")
    waiting, talking, total = durations(facts, tz)
    if facts.hung_up:
        if facts.is_answered and talking is not None:
            if waiting is not None:
                parts.append(f"ожидание {waiting} с")
            parts.append(f"разговор {talking} с")
        elif facts.is_answered and total is not None:
            parts.append(f"длительность {total} с")
        elif waiting is not None:
            parts.append(f"ожидание {waiting} с")
    if hidden:
        parts.append(HIDDEN_NUMBER.lower())
    if extra:
        parts.append(extra)
    return " · ".join(parts)[:4096]
