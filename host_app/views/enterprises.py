"""``/api/enterprises/<number>``: enterprises, their primary integration, Smart section and admin tokens.

Global admin: everything. An enterprise admin token (or its session): ``GET`` of its own enterprise,
``GET·PUT .../smart`` and ``PUT .../primary``; never create/update/delete or token minting.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from host_app.admin_tokens import AdminTokens
from host_app.enterprise_admin import EnterpriseAdmin
from host_app.integrations.contract import Auth, read_json_object
from host_app.schemas import AdminTokenSchema, EnterpriseSchema, PrimarySchema, SmartSectionSchema, check_number
from host_app.state import host_state

bp = Blueprint("host_enterprises", __name__, url_prefix="/api/enterprises")


def _auth() -> Auth:
    return host_state().services.auth


def _service() -> EnterpriseAdmin:
    return EnterpriseAdmin(host_state())


@bp.get("/<number>")
def get_enterprise(number: str) -> Response:
    _auth().require_admin(number)
    return jsonify(_service().get(number))


@bp.put("/<number>")
def put_enterprise(number: str) -> tuple[Response, int]:
    who = _auth().require_global_admin()
    check_number(number)
    data = EnterpriseSchema().load(read_json_object())
    body, created = _service().put(number, data, who)
    return jsonify(body), (201 if created else 200)


@bp.delete("/<number>")
def delete_enterprise(number: str) -> tuple[str, int]:
    who = _auth().require_global_admin()
    _service().delete(number, who)
    return "", 204


@bp.put("/<number>/primary")
def put_primary(number: str) -> Response:
    who = _auth().require_admin(number)
    data = PrimarySchema().load(read_json_object())
    return jsonify(_service().set_primary(number, data["primary"], who))


@bp.get("/<number>/smart")
def get_smart(number: str) -> Response:
    _auth().require_admin(number)
    return jsonify(_service().get_smart(number))


@bp.put("/<number>/smart")
def put_smart(number: str) -> Response:
    who = _auth().require_admin(number)
    data = SmartSectionSchema().load(read_json_object())
    return jsonify(_service().put_smart(number, data, who))


@bp.post("/<number>/admin-tokens")
def mint_admin_token(number: str) -> tuple[Response, int]:
    who = _auth().require_global_admin()
    data = AdminTokenSchema().load(_optional_body())
    return jsonify(AdminTokens(host_state()).mint(number, data["label"], who)), 201


@bp.get("/<number>/admin-tokens")
def list_admin_tokens(number: str) -> Response:
    _auth().require_global_admin()
    return jsonify({"tokens": AdminTokens(host_state()).list(number)})


@bp.delete("/<number>/admin-tokens/<int:token_id>")
def revoke_admin_token(number: str, token_id: int) -> tuple[str, int]:
    who = _auth().require_global_admin()
    AdminTokens(host_state()).revoke(number, token_id, who)
    return "", 204


def _optional_body() -> dict[str, Any]:
    # The body is optional ({"label"}); a form post from the admin page carries its csrf_token field.
    is_form = request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data")
    if not is_form and not request.get_data(cache=True):  # (a parsed form has consumed the stream)
        return {}
    body = read_json_object(allow_form=True)
    body.pop("csrf_token", None)
    return body
