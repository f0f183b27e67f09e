"""Request log (bounded) and per-endpoint counters. Secrets never reach the log: keys, passwords and
tokens are masked before an entry is stored."""
from __future__ import annotations

import base64
import binascii
import fnmatch
from collections import Counter, deque
from typing import Any, Mapping

LOGGED_HEADERS = (
    "Lognex-Phone-Auth-Token", "Authorization", "Accept-Encoding", "Content-Type", "Content-Encoding",
    "Accept", "User-Agent", "Lognex-Pretty-Print-JSON", "X-Lognex-Format-Millisecond",
    "X-Lognex-WebHook-DisableByPrefix", "Lognex-Content-MD5",
)


def mask_secret(value: str) -> str:
    if len(value) <= 8:
        return "***"
    return f"{value[:4]}…({len(value)})"


def mask_header(name: str, value: str) -> str:
    lowered = name.lower()
    if lowered == "lognex-phone-auth-token":
        return mask_secret(value)
    if lowered == "authorization":
        scheme, _, credential = value.partition(" ")
        if scheme.lower() == "basic":
            try:
                login = base64.b64decode(credential, validate=True).decode("utf-8").partition(":")[0]
            except (binascii.Error, UnicodeDecodeError, ValueError):
                login = "?"
            return f"Basic {login}:***"
        return f"{scheme} {mask_secret(credential)}"
    return value


def selected_headers(headers: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in LOGGED_HEADERS:
        value = headers.get(name)
        if value is not None:
            out[name] = mask_header(name, value)
    return out


class RequestLog:
    def __init__(self, maxlen: int = 10000) -> None:
        self.entries: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self.seq = 0
        self.counts: Counter[tuple[str, str, int]] = Counter()

    def resize(self, maxlen: int) -> None:
        if self.entries.maxlen != maxlen:
            self.entries = deque(self.entries, maxlen=maxlen)

    def add(self, entry: dict[str, Any]) -> dict[str, Any]:
        self.seq += 1
        entry["seq"] = self.seq
        self.entries.append(entry)
        self.counts[(entry["api"], entry["endpoint"], entry["status"])] += 1
        return entry

    def query(self, *, api: str | None = None, path: str | None = None, since: int | None = None,
              since_time: float | None = None, method: str | None = None, status: int | None = None,
              account: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """`path`: a glob when it contains `*`, else a prefix. `since`: entries with seq > since."""
        rows = []
        for entry in self.entries:
            if since is not None and entry["seq"] <= since:
                continue
            if since_time is not None and entry["time"] < since_time:
                continue
            if api and entry["api"] != api:
                continue
            if method and entry["method"] != method.upper():
                continue
            if status is not None and entry["status"] != status:
                continue
            if account and account not in (entry.get("account"), entry.get("account_id")):
                continue
            if path:
                matched = (fnmatch.fnmatchcase(entry["path"], path) if "*" in path
                           else entry["path"].startswith(path))
                if not matched:
                    continue
            rows.append(entry)
        return rows[-limit:] if limit else rows

    def snapshot(self) -> dict[str, Any]:
        by_api: Counter[str] = Counter()
        by_status: Counter[str] = Counter()
        endpoints: dict[str, dict[str, dict[str, int]]] = {}
        for (api, endpoint, status), n in sorted(self.counts.items()):
            by_api[api] += n
            by_status[str(status)] += n
            endpoints.setdefault(api, {}).setdefault(endpoint, {})[str(status)] = n
        return {"total": sum(by_api.values()), "by_api": dict(by_api), "by_status": dict(by_status),
                "endpoints": endpoints, "last_seq": self.seq}

    def clear(self) -> None:
        self.entries.clear()
        self.counts.clear()
