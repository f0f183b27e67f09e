"""Building accounts from a declarative spec (used by tests, the control API and `--seed demo`).

Spec (every key optional):
    {"name": "acme", "phone_key": "<40 hex>", "telephony_enabled": true, "crm_option": true, "blocked": false,
     "employees": [{"name"|"firstName"/"lastName", "email", "phone", "extension": "150", "archived": false,
                    "login": "admin", "password": "...", "token": true | "<40 hex>"}],
     "organizations": [{"name": "ООО Ромашка"}], "sales_channels": [{"name": "...", "type": "DIRECT_SALES"}],
     "states": [{"name": "Новый", "stateType": "Regular"}],     # default: MoySklad's 7 default states
     "counterparties": [{"name", "phone", "email", "tags", "owner": <index | id | uid | login | extension>,
                         "archived", "contactpersons": [{"name", "phone", "email"}]}]}
With no employee carrying a login, the first employee (created when none is given) becomes `admin@<name>`.
"""
from __future__ import annotations

from typing import Any

from .entities import IdFactory, add_default_states, create_entity, employee_names
from .model import Account, Entity, Ref, User
from .util import is_uuid

EMPLOYEE_KEYS = ("firstName", "middleName", "lastName", "name", "fullName", "email", "phone", "position",
                 "archived", "description")
COUNTERPARTY_KEYS = ("name", "phone", "email", "tags", "archived", "description", "companyType", "code",
                     "externalCode", "legalTitle", "syncId", "fax")


def build_account(ids: IdFactory, spec: dict[str, Any], taken_names: set[str]) -> Account:
    name = str(spec.get("name") or f"account{len(taken_names) + 1}")
    if name in taken_names or "@" in name:
        raise ValueError(f"account name {name!r} is taken or invalid")
    account = Account(id=ids.uuid(), name=name, phone_key=str(spec.get("phone_key") or ids.hex40()),
                      telephony_enabled=bool(spec.get("telephony_enabled", True)),
                      crm_option=bool(spec.get("crm_option", True)), blocked=bool(spec.get("blocked", False)))
    employees = list(spec.get("employees") or [{"name": "Администратор", "login": "admin"}])
    if not any(e.get("login") for e in employees):
        employees[0] = {**employees[0], "login": "admin"}
    for index, emp in enumerate(employees):
        add_employee(ids, account, emp, index)
    for org in spec.get("organizations") or [{"name": f"ООО «{name}»"}]:
        create_entity(ids, account, "organization", {"name": org["name"], "archived": bool(org.get("archived")),
                                                     **{k: org[k] for k in ("inn", "legalTitle", "phone", "email")
                                                        if k in org}})
    for channel in spec.get("sales_channels") or []:
        create_entity(ids, account, "saleschannel", {"name": channel["name"],
                                                     "type": channel.get("type", "OTHER"),
                                                     "description": channel.get("description"),
                                                     "archived": bool(channel.get("archived"))})
    add_default_states(ids, account, spec.get("states"))
    for cp in spec.get("counterparties") or []:
        add_counterparty(ids, account, cp)
    return account


def add_employee(ids: IdFactory, account: Account, spec: dict[str, Any], index: int | None = None) -> Entity:
    fields = employee_names({k: spec[k] for k in EMPLOYEE_KEYS if k in spec})
    fields.setdefault("archived", False)
    fields["archived"] = bool(fields["archived"])
    login = spec.get("login")
    local = login or (str(spec["email"]).split("@")[0] if spec.get("email") else f"employee{index or 0}")
    fields["uid"] = f"{local}@{account.name}" if "@" not in str(local) else str(local)
    # Phone API extension: kept out of the JSON API representation (remap 1.2 has no such field).
    fields["_extension"] = str(spec["extension"]) if spec.get("extension") not in (None, "") else None
    employee = create_entity(ids, account, "employee", fields, entity_id=_checked_id(spec))
    if login or spec.get("password"):
        if fields["uid"] in account.users:
            raise ValueError(f"login {fields['uid']!r} is used twice")
        user = User(login=fields["uid"], password=str(spec.get("password") or ids.password()),
                    employee_id=employee.id, api_access=bool(spec.get("api_access", True)))
        token = spec.get("token")
        if token:
            user.tokens.append(token if isinstance(token, str) else ids.hex40())
        account.users[user.login] = user
    return employee


def resolve_employee(account: Account, ref: Any) -> Entity | None:
    """An employee named in a spec: list index, id, uid/login, extension or name."""
    employees = list(account.store("employee").values())
    if isinstance(ref, int) and not isinstance(ref, bool):
        return employees[ref] if 0 <= ref < len(employees) else None
    if not isinstance(ref, str):
        return None
    for emp in employees:
        f = emp.fields
        if ref in (emp.id, f.get("uid"), f.get("_extension"), f.get("name"), f.get("fullName")):
            return emp
        if f.get("uid", "").split("@")[0] == ref:
            return emp
    return None


def add_counterparty(ids: IdFactory, account: Account, spec: dict[str, Any]) -> Entity:
    fields: dict[str, Any] = {k: spec[k] for k in COUNTERPARTY_KEYS if k in spec}
    fields.setdefault("companyType", "legal")
    fields["archived"] = bool(fields.get("archived", False))
    fields["tags"] = list(fields.get("tags") or [])
    owner = resolve_employee(account, spec["owner"]) if "owner" in spec else _first_employee(account)
    if owner is None and "owner" in spec and spec["owner"] is not None:
        raise ValueError(f"unknown owner {spec['owner']!r}")
    fields["owner"] = Ref("employee", owner.id) if owner else None
    counterparty = create_entity(ids, account, "counterparty", fields, entity_id=_checked_id(spec))
    for person in spec.get("contactpersons") or []:
        create_entity(ids, account, "contactperson",
                      {k: person[k] for k in ("name", "phone", "email", "position", "description") if k in person},
                      parent_id=counterparty.id)
    return counterparty


def _checked_id(spec: dict[str, Any]) -> str | None:
    """A caller-chosen id must look like MoySklad's (a UUID), or the API could not address it."""
    entity_id = spec.get("id")
    if entity_id is not None and not (isinstance(entity_id, str) and is_uuid(entity_id)):
        raise ValueError(f"id {entity_id!r} is not a UUID")
    return entity_id.lower() if entity_id else None


def _first_employee(account: Account) -> Entity | None:
    return next(iter(account.store("employee").values()), None)


def account_info(account: Account) -> dict[str, Any]:
    """What a test needs to talk to the account: keys, logins, ids."""
    def rows(kind: str, keys: tuple[str, ...]) -> list[dict[str, Any]]:
        return [{"id": e.id, **{k: e.fields.get(k) for k in keys}} for e in account.store(kind).values()]

    counterparties = []
    for cp in account.store("counterparty").values():
        owner = cp.fields.get("owner")
        persons = [{"id": p.id, "name": p.fields.get("name"), "phone": p.fields.get("phone")}
                   for p in account.store("contactperson").values() if p.parent_id == cp.id]
        counterparties.append({"id": cp.id, "name": cp.fields.get("name"), "phone": cp.fields.get("phone"),
                               "owner": owner.id if owner else None, "contactpersons": persons})
    employees = [{"id": e.id, "name": e.fields.get("name"), "fullName": e.fields.get("fullName"),
                  "uid": e.fields.get("uid"), "extension": e.fields.get("_extension"),
                  "email": e.fields.get("email"), "phone": e.fields.get("phone")}
                 for e in account.store("employee").values()]
    return {
        "id": account.id, "name": account.name, "phone_key": account.phone_key, **account.flags(),
        "users": [{"login": u.login, "password": u.password, "employee_id": u.employee_id, "tokens": list(u.tokens)}
                  for u in account.users.values()],
        "employees": employees,
        "organizations": rows("organization", ("name",)),
        "sales_channels": rows("saleschannel", ("name", "type")),
        "states": rows("state", ("name", "stateType")),
        "counterparties": counterparties,
    }


DEMO_SPEC: dict[str, Any] = {
    "name": "demo",
    "employees": [
        {"firstName": "Иван", "lastName": "Иванов", "email": "ivanov@demo.example", "phone": "+375 29 150-00-00",
         "extension": "150", "login": "admin", "password": "demo-admin"},
        {"firstName": "Мария", "lastName": "Петрова", "email": "petrova@demo.example",
         "extension": "151", "login": "petrova", "password": "demo-petrova"},
        {"firstName": "Олег", "lastName": "Сидоров", "email": "sidorov@demo.example",
         "extension": "152", "login": "sidorov", "password": "demo-sidorov"},
    ],
    "organizations": [{"name": "ООО «Демо Торг»", "inn": "7701234567"}],
    "sales_channels": [{"name": "Телефонный звонок", "type": "DIRECT_SALES"}],
    "counterparties": [
        {"name": "ООО «Ромашка»", "phone": "+375 (29) 111-22-33", "owner": "151", "tags": ["опт"],
         "contactpersons": [{"name": "Анна Смирнова", "phone": "+375 44 765-43-21", "email": "anna@romashka.by"}]},
        {"name": "Иван Петров", "phone": "8 (916) 123-45-67", "owner": "152", "companyType": "individual"},
        {"name": "ИП Козлов", "phone": "+79031234567", "owner": "150", "companyType": "entrepreneur"},
        {"name": "Минский клиент", "phone": "80172223344", "owner": "151"},
        {"name": "ЗАО «Вектор»", "phone": "+7 495 331 22 33, доб. 5", "owner": "152",
         "contactpersons": [{"name": "Пётр Орлов", "phone": "375291234567"}]},
    ],
}
