"""MoySklad error envelope and the error catalogue the emulator uses.

Envelope (both APIs): `{"errors": [{"error", "code", "parameter"?, "moreInfo"}]}`. The Phone doc also lists
`error_message`, but real JSON API responses carry `moreInfo` instead, so that is what we emit.
"""
from __future__ import annotations

from typing import Any

PHONE_DOC = "https://dev.moysklad.ru/doc/api/phone/1.0/#obrabotka-oshibok"
JSON_DOC = "https://dev.moysklad.ru/doc/api/remap/1.2/#error_{code}"

# Code -> default message (Russian, as MoySklad answers without Accept-Language: en).
MESSAGES: dict[int, str] = {
    1002: "Неопознанный путь: {path}",
    1007: "Неизвестное поле '{parameter}'",
    1021: "Объект с типом '{entity}' и идентификатором '{id}' не найден",
    1034: "Ошибка фильтрации: {detail}",
    1039: "Операция {method} не поддерживается для данного ресурса",
    1040: "Параметры запроса заданы неверно: {detail}",
    1044: "Размер запроса превышает допустимый (максимум {limit} МБ)",
    1049: "Превышено ограничение на количество запросов в единицу времени",
    1052: "Неверный формат UUID: '{id}'",
    1056: "Ошибка аутентификации: {detail}",
    1060: "Неверный тип данных в поле meta.type: '{parameter}'",
    1061: "У пользователя нет доступа к API",
    1062: "Неверное значение заголовка 'Accept': поддерживается только application/json;charset=utf-8",
    1073: "Превышено ограничение на одновременное количество запросов",
    1074: "Сервис недоступен, идут технические работы",
    1999: "Неизвестная ошибка",
    2001: "Ошибка формата: тело запроса не является JSON. Добавьте заголовок Content-Type: application/json",
    2005: "Ошибка формата: JSON должен начинаться с объекта или массива",
    2009: "Ошибка формата: для создания или изменения одного объекта требуется объект, а не массив",
    2010: "Ошибка формата: в метаданных поля '{parameter}' отсутствует href",
    2011: "Ошибка формата: в метаданных поля '{parameter}' отсутствует type",
    2013: "Ошибка формата: неверный href в метаданных поля '{parameter}'",
    2017: "Ошибка формата: неверное значение поля '{parameter}'",
    3000: "Ошибка сохранения объекта: поле '{parameter}' не может быть пустым или отсутствовать",
    3005: "Ошибка сохранения объекта: недопустимое значение поля '{parameter}', допустимые значения: {allowed}",
    3006: "Ошибка сохранения объекта: нарушено ограничение уникальности поля '{parameter}'",
    3007: "Ошибка валидации сохраняемого объекта: {detail}",
    3015: "Ошибка сохранения объекта: неверный формат e-mail в поле '{parameter}'",
    3040: "Ошибка сохранения объекта: значение поля '{parameter}' превышает допустимую длину {limit}",
    37000: "Для работы с задачами необходимо подключить опцию CRM",
    55008: "Не установлено решение для работы c 'Phone API'",
}


class ApiError(Exception):
    """An error answered to the client with MoySklad's envelope."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str | None = None,
        *,
        parameter: str | None = None,
        headers: dict[str, str] | None = None,
        **fmt: Any,
    ) -> None:
        template = message if message is not None else MESSAGES.get(code, "Ошибка")
        fmt.setdefault("parameter", parameter or "")
        try:
            text = template.format(**fmt)
        except (KeyError, IndexError):
            text = template
        super().__init__(text)
        self.status = status
        self.code = code
        self.message = text
        self.parameter = parameter
        self.headers = dict(headers or {})

    def envelope(self, api: str) -> dict[str, Any]:
        return error_envelope(self.code, self.message, api, parameter=self.parameter)


def error_envelope(code: int, message: str, api: str, *, parameter: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"error": message, "code": code}
    if parameter:
        item["parameter"] = parameter
    item["moreInfo"] = PHONE_DOC if api == "phone" else JSON_DOC.format(code=code)
    return {"errors": [item]}


def required(parameter: str) -> ApiError:
    return ApiError(412, 3000, parameter=parameter)


def bad_format(parameter: str) -> ApiError:
    return ApiError(400, 2017, parameter=parameter)


def not_found(entity: str, entity_id: str) -> ApiError:
    return ApiError(404, 1021, entity=entity, id=entity_id)


def bad_uuid(entity_id: str) -> ApiError:
    return ApiError(400, 1052, id=entity_id)
