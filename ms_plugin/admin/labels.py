"""Russian labels of the settings' choices (data for the templates, never HTML)."""

from __future__ import annotations

NOTIFY_MODES: tuple[tuple[str, str], ...] = (
    ("during", "Во время звонка: карточка у всех, кому звонят"),
    ("after", "После звонка: одна карточка ответившему (или первому, кому звонили)"),
    ("none", "Не показывать карточки"),
)
ORDER_MODES: tuple[tuple[str, str], ...] = (
    ("none", "Не создавать"),
    ("always", "Всегда"),
    ("if_no_open", "Только если у клиента нет открытого заказа"),
)
SIGNATURE_MODES: tuple[tuple[str, str], ...] = (
    ("log", "Проверять и записывать в журнал (звонить всё равно)"),
    ("enforce", "Проверять строго: без верной подписи не звонить"),
    ("off", "Не проверять"),
)
DIAL_FORMATS: tuple[tuple[str, str], ...] = (
    ("digits", "Только цифры: 375291234567"),
    ("e164", "Международный: +375291234567"),
    ("national", "Национальный: 80291234567"),
)
REGIONS: tuple[tuple[str, str], ...] = (
    ("", "Как у предприятия"),
    ("BY", "Беларусь"),
    ("RU", "Россия"),
    ("KZ", "Казахстан"),
)
STATES: dict[str, str] = {
    "ok": "Работает",
    "disabled": "Выключена",
    "credentials_invalid": "МойСклад не принимает ключ",
    "degraded": "Работает не полностью",
}
