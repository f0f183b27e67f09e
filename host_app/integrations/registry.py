"""Loaded plugins by code, and the loader that fills it from ``HOST_INTEGRATIONS`` (``module:attr``).

Loading fails fast: a plugin that does not import, does not satisfy the contract, repeats a code or
claims a URL prefix another plugin (or the host) owns stops the boot. A silently missing integration
means lost calls, which is worse than a failed deploy.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence

from host_app.integrations.contract import Integration

# URL prefixes the host itself serves; no plugin may claim them.
HOST_PREFIXES = ("/api/", "/dispatch/", "/health", "/metrics", "/login", "/logout", "/customer-name/",
                 "/responsible-extension/", "/static/")
_REQUIRED = ("code", "url_prefixes", "can_lookup", "migrations_dir", "init_app", "is_active",
             "handle_call_event", "customer_name", "responsible_extension", "health")


class IntegrationLoadError(RuntimeError):
    pass


class IntegrationRegistry:
    def __init__(self) -> None:
        self._plugins: dict[str, Integration] = {}

    def add(self, plugin: Integration) -> None:
        missing = [name for name in _REQUIRED if not hasattr(plugin, name)]
        if missing:
            raise IntegrationLoadError(f"{plugin!r} does not satisfy the Integration contract: "
                                       f"missing {', '.join(missing)}")
        code = plugin.code
        if not isinstance(code, str) or not code.isidentifier():
            raise IntegrationLoadError(f"{plugin!r}: code must be a short identifier, got {code!r}")
        if code in self._plugins:
            raise IntegrationLoadError(f"two integrations use the code {code!r}")
        for prefix in plugin.url_prefixes:
            for owner, other in self._owners():
                if _overlaps(prefix, other):
                    raise IntegrationLoadError(
                        f"integration {code!r} URL prefix {prefix!r} collides with {owner}'s {other!r}")
        self._plugins[code] = plugin

    def _owners(self) -> Iterator[tuple[str, str]]:
        for prefix in HOST_PREFIXES:
            yield "the host", prefix
        for code, plugin in self._plugins.items():
            for prefix in plugin.url_prefixes:
                yield code, prefix

    def get(self, code: str) -> Integration | None:
        return self._plugins.get(code)

    def codes(self) -> list[str]:
        return list(self._plugins)

    def __iter__(self) -> Iterator[Integration]:
        return iter(self._plugins.values())

    def __len__(self) -> int:
        return len(self._plugins)


def _overlaps(a: str, b: str) -> bool:
    a_n, b_n = a.rstrip("/") + "/", b.rstrip("/") + "/"
    return a_n.startswith(b_n) or b_n.startswith(a_n)


def resolve(spec: str) -> Integration:
    module_name, _sep, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise IntegrationLoadError(f"cannot import integration {spec!r}: {type(exc).__name__}: {exc}") from exc
    try:
        return getattr(module, attr)  # type: ignore[no-any-return]
    except AttributeError:
        raise IntegrationLoadError(f"integration {spec!r}: module has no attribute {attr!r}") from None


def load(specs: Sequence[str]) -> IntegrationRegistry:
    registry = IntegrationRegistry()
    for spec in specs:
        registry.add(resolve(spec))
    return registry
