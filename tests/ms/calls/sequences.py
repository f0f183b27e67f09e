"""Event sequences the recordings do not cover, built from vochi-upstream.md §3.2-3.6 (transfers,
follow-me to a mobile, department calls, CRM-originated calls). Same shapes as the real listener's."""

from __future__ import annotations

from typing import Any

CALLER = "375447034448"
TRUNK = "0001363"


def ev(event_type: str, **raw: Any) -> dict[str, Any]:
    return {"event_type": event_type, "raw": {"Token": "<TOKEN>", **raw}}


def incoming_transfer(uid: str = "1757840723.6") -> list[dict[str, Any]]:
    """Answered by 151, blind-transferred to a busy 152: the final hangup says CallType 2 and status 0."""
    leg151, consult = "1757840730.7", "1757840745.9"
    return [
        ev("start", UniqueId=uid, CallType=0, Phone=CALLER, Trunk=TRUNK),
        ev("dial", UniqueId=uid, CallType=0, Phone=CALLER, Trunk=TRUNK, Extensions=["150", "151", "152"],
           ExtPhone=CALLER, ExtTrunk=""),
        ev("bridge", UniqueId=leg151, Channel="SIP/151-00000006", CallerIDNum="151", ConnectedLineNum=CALLER,
           BridgeUniqueid="b1"),
        ev("bridge", UniqueId=uid, Channel=f"SIP/{TRUNK}-00000004", CallerIDNum=CALLER, ConnectedLineNum="151",
           BridgeUniqueid="b1", Exten=TRUNK),
        # the consultation leg ends under its own UniqueId with the external caller as Phone
        ev("hangup", UniqueId=consult, CallType=2, Phone=CALLER, Extensions=["152"], CallStatus="0",
           StartTime="", EndTime="2025-09-14 12:06:00", DateReceived="2025-09-14 12:05:59", Trunk=""),
        ev("hangup", UniqueId=uid, CallType=2, Phone=CALLER, Extensions=["152"], CallStatus="0",
           StartTime="2025-09-14 12:05:23", EndTime="2025-09-14 12:06:13", DateReceived="2025-09-14 12:05:46",
           Trunk=TRUNK),
    ]


def follow_me(uid: str = "1757850000.1", mobile: str = "375290000099") -> list[dict[str, Any]]:
    """The group 150/151 rings, then a follow-me leg dials a manager's mobile (CallType 1, own UniqueId,
    Extensions = the live call's caller number); the mobile answers."""
    leg = "1757850010.2"
    return [
        ev("start", UniqueId=uid, CallType=0, Phone=CALLER, Trunk=TRUNK),
        ev("dial", UniqueId=uid, CallType=0, Phone=CALLER, Trunk=TRUNK, Extensions=["150", "151"],
           ExtPhone=CALLER, ExtTrunk=""),
        ev("dial", UniqueId=leg, CallType=1, Phone=mobile, Trunk=TRUNK, Extensions=[CALLER], ExtPhone="",
           ExtTrunk=""),
        ev("bridge", UniqueId=uid, Channel=f"SIP/{TRUNK}-00000010", CallerIDNum=CALLER,
           ConnectedLineNum=mobile, BridgeUniqueid="b9"),
        ev("hangup", UniqueId=leg, CallType=1, Phone=mobile, Extensions=[CALLER], CallStatus="2",
           StartTime="2025-09-14 13:00:10", EndTime="2025-09-14 13:01:00", Trunk=TRUNK),
        ev("hangup", UniqueId=uid, CallType=0, Phone=CALLER, Extensions=[""], CallStatus="2",
           StartTime="2025-09-14 13:00:00", EndTime="2025-09-14 13:01:00", Trunk=TRUNK),
    ]


def growing_group(uid: str = "1757860000.1") -> list[dict[str, Any]]:
    """One UniqueId, two dials: the group grows (a transfer to a group, old listeners' "&" lists)."""
    return [
        ev("start", UniqueId=uid, CallType="0", Phone="+" + CALLER, Trunk=TRUNK),
        ev("dial", UniqueId=uid, CallType="0", Phone="+" + CALLER, Trunk=TRUNK, Extensions=["150"]),
        ev("dial", UniqueId=uid, CallType="0", Phone="+" + CALLER, Trunk=TRUNK, Extensions=["152&151&150"]),
        ev("hangup", UniqueId=uid, CallType="0", Phone="+" + CALLER, Extensions=[""], CallStatus="0",
           StartTime="2025-09-14 14:00:00", EndTime="2025-09-14 14:00:30", Trunk=TRUNK),
    ]


def department_call(uid: str = "1757870000.1") -> list[dict[str, Any]]:
    """An extension calls a department number: CallType 0, Phone = the extension, no trunk: internal."""
    return [
        ev("start", UniqueId=uid, CallType=0, Phone="152", Trunk=""),
        ev("dial", UniqueId=uid, CallType=0, Phone="152", Trunk="", Extensions=["150", "151"]),
        ev("hangup", UniqueId=uid, CallType=0, Phone="152", Extensions=["151"], CallStatus="2",
           StartTime="2025-09-14 15:00:00", EndTime="2025-09-14 15:00:20", Trunk=""),
    ]


def hidden_caller(uid: str = "1757880000.1", phone: str = "anonymous") -> list[dict[str, Any]]:
    return [
        ev("dial", UniqueId=uid, CallType=0, Phone=phone, Trunk=TRUNK, Extensions=["150"]),
        ev("hangup", UniqueId=uid, CallType=0, Phone=phone, Extensions=[""], CallStatus="0",
           StartTime="2025-09-14 16:00:00", EndTime="2025-09-14 16:00:10", Trunk=TRUNK),
    ]


def crm_originated(uid: str = "1757890000.1", ext: str = "151", phone: str = "375290000002") -> list[dict[str, Any]]:
    """After a click-to-call: the PBX rings the extension, then dials the client (ExternalInitiated)."""
    trunk_leg = "1757890001.2"
    return [
        ev("dial", UniqueId=uid, CallType=1, Phone=phone, Trunk=TRUNK, Extensions=[ext], ExtPhone="",
           ExtTrunk="", ExternalInitiated=True),
        ev("bridge", UniqueId=trunk_leg, Channel=f"SIP/{TRUNK}-00000001", CallerIDNum=phone,
           ConnectedLineNum=ext, BridgeUniqueid="c1", ExternalInitiated=True),
        ev("bridge", UniqueId=uid, Channel=f"SIP/{ext}-00000000", CallerIDNum=ext, ConnectedLineNum="<unknown>",
           BridgeUniqueid="c1", ExternalInitiated=True),
        ev("hangup", UniqueId=uid, CallType=1, Phone=phone, Extensions=[ext], CallStatus="2",
           StartTime="2025-09-14 17:00:00", EndTime="2025-09-14 17:02:00", Trunk=TRUNK, ExternalInitiated=True),
    ]
