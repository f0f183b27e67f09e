"""PUT semantics of the tenant's ``ms`` section (contract §5), as pure functions over plain dicts.

* objects merge recursively; an omitted key keeps its value;
* secrets (``integration_code``, ``password``, ``api_token``): ``""`` keeps, ``null`` clears;
* any other key: ``null`` resets it to its default (the key is removed from the stored section);
* ``employee_mapping`` is replaced whole when given;
* unknown keys are errors; ``webhook_uuid``/``webhook_url`` and the read-only keys GET returns
  (``has_*``, ``status``) are ignored, so a GET body sent back unchanged changes nothing. For that
  round trip a secret sent as ``null`` *together with* its ``has_<secret>`` flag is an echo of GET and
  keeps the secret; a client that means "clear" sends ``null`` without the flag.

Values are validated with the config schema on the merged result (so cross-field rules see what will be
stored); a stored value the admin did not touch is never reported (the tolerant reader ignores it).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields

from ms_plugin.config.schema import SECRET_KEYS, MappingField, TenantConfigSchema

IGNORED_KEYS = frozenset({"webhook_uuid", "webhook_url", "status", *(f"has_{k}" for k in SECRET_KEYS)})
# Optional text settings where an empty form field means "not set" (stored as absent, like null).
EMPTY_IS_NULL = frozenset({"login", "api_url", "phone_api_url", "organization_id", "default_region"})
URL_KEYS = ("api_url", "phone_api_url")
CREDENTIAL_KEYS = frozenset({*SECRET_KEYS, "login", *URL_KEYS})

Errors = dict[str, Any]


class PatchError(Exception):
    """Field errors (marshmallow's nested ``{"field": ["message"]}`` shape) for a 422."""

    def __init__(self, errors: Errors) -> None:
        super().__init__("the section is not valid")
        self.errors = errors


def _schema_fields(schema: Schema) -> dict[str, fields.Field]:
    return dict(schema.fields)


_TOP = _schema_fields(TenantConfigSchema())


def _type_error(field: fields.Field, value: Any) -> str | None:
    """JSON types only: marshmallow would also take ``"yes"`` for true and ``"5"`` for 5, hiding typos."""
    if isinstance(field, fields.Boolean):
        return None if isinstance(value, bool) else "Нужно true или false."
    if isinstance(field, fields.Integer):
        return None if isinstance(value, int) and not isinstance(value, bool) else "Нужно целое число."
    if isinstance(field, fields.String):
        return None if isinstance(value, str) else "Нужна строка."
    if isinstance(field, (fields.Nested, MappingField)):
        return None if isinstance(value, Mapping) else "Нужен объект."
    return None


def merge(stored: Mapping[str, Any], patch: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """The section after ``patch`` and the top-level keys it touched; raises :class:`PatchError`."""
    out = copy.deepcopy(dict(stored))
    touched: set[str] = set()
    errors: Errors = {}
    for key, value in patch.items():
        if key in IGNORED_KEYS:
            continue
        field = _TOP.get(key)
        if field is None:
            errors[key] = ["Неизвестное поле."]
            continue
        if key in SECRET_KEYS:
            if value == "" or (value is None and f"has_{key}" in patch):
                continue  # keep: an empty field, or the echo of GET's null
            touched.add(key)
            if value is None:
                out.pop(key, None)
            elif not isinstance(value, str):
                errors[key] = ["Нужна строка."]
            else:
                out[key] = value.strip()
            continue
        touched.add(key)
        if value is None or (value == "" and key in EMPTY_IS_NULL):
            out.pop(key, None)
            continue
        problem = _type_error(field, value)
        if problem:
            errors[key] = [problem]
        elif isinstance(field, fields.Nested):
            merged, sub_errors = _merge_nested(out.get(key), value, field.schema)
            if sub_errors:
                errors[key] = sub_errors
            else:
                out[key] = merged
        else:
            out[key] = value.strip() if isinstance(value, str) else copy.deepcopy(value)
    if errors:
        raise PatchError(errors)
    return out, touched


def _merge_nested(current: Any, patch: Mapping[str, Any], schema: Schema) -> tuple[dict[str, Any], Errors]:
    known = _schema_fields(schema)
    # Keys an older service left in this object are dropped when the admin saves it: nothing reads
    # them, and the strict schema would refuse the object because of them.
    out = {k: v for k, v in current.items() if k in known} if isinstance(current, Mapping) else {}
    errors: Errors = {}
    for key, value in patch.items():
        field = known.get(key)
        if field is None:
            errors[key] = ["Неизвестное поле."]
        elif value is None:
            out.pop(key, None)
        elif problem := _type_error(field, value):
            errors[key] = [problem]
        else:
            out[key] = value
    return out, errors


def validate(section: Mapping[str, Any], touched: Iterable[str]) -> dict[str, Any]:
    """Schema-validate the merged section; report errors of the touched keys only. Returns the loaded
    (normalised, defaults applied) section."""
    touched = set(touched)
    data = {k: v for k, v in section.items() if k in _TOP}
    errors: Errors = {}
    try:
        loaded = TenantConfigSchema().load(data)
    except ValidationError as err:
        messages = err.messages_dict
        errors = {k: v for k, v in messages.items() if k in touched}
        loaded = tolerant_load(section)
    if loaded.get("enabled") and not loaded.get("integration_code") and "integration_code" not in errors:
        message = ["Чтобы включить интеграцию, укажите ключ интеграции (Phone API)."]
        errors["integration_code"] = message
        errors.setdefault("enabled", message)
    if errors:
        raise PatchError(errors)
    return loaded


def tolerant_load(section: Mapping[str, Any] | None) -> dict[str, Any]:
    """The stored section with defaults applied; values that no longer validate fall back to defaults."""
    schema = TenantConfigSchema()
    data: dict[str, Any] = {k: v for k, v in (section or {}).items() if k in _TOP}
    for _ in range(8):
        try:
            return dict(schema.load(data))
        except ValidationError as err:
            data = _drop(data, err.messages_dict)
    return dict(schema.load({}))


def _drop(data: Mapping[str, Any], errors: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(data)
    for key, sub in errors.items():
        if isinstance(out.get(key), Mapping) and isinstance(sub, Mapping):
            out[key] = _drop(out[key], sub)  # a bad entry of a nested object or of the mapping
        else:
            out.pop(key, None)
    return out


def changed_paths(before: Mapping[str, Any], after: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths whose value differs (names only: the journal never holds a secret's value)."""
    paths: list[str] = []
    for key in sorted(set(before) | set(after), key=str):
        old, new = before.get(key), after.get(key)
        path = f"{prefix}{key}"
        if isinstance(old, Mapping) and isinstance(new, Mapping) and key != "employee_mapping":
            paths.extend(changed_paths(old, new, path + "."))
        elif old != new:
            paths.append(path)
    return paths


def normalised_mapping(value: Any) -> dict[str, str]:
    """A stored ``employee_mapping`` as ``{ext: uuid}`` (legacy objects read; bad entries dropped)."""
    if not isinstance(value, Mapping):
        return {}
    field = MappingField()
    out: dict[str, str] = {}
    for ext, ref in value.items():
        try:
            out.update(field.deserialize({ext: ref}))
        except ValidationError:
            continue
    return out
