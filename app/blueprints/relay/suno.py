"""Suno: POST /suno/submit/{music|lyrics}, POST /suno/fetch {"ids": [...]}, GET /suno/fetch/{id}.

Shapes are new-api's (relay/relay_task.go): answers `{"code": "success", "data": ...}` with new-api's
TaskDto objects, refusals `{"code": str, "message": str, "data": null}` with an HTTP status. The key is
a Bearer token. A user only ever sees their own tasks.
"""

from __future__ import annotations

from flask import Response, jsonify, request

from app.blueprints.relay import bp
from app.errors import AppError
from app.relay.keys import Caller, authenticate
from app.relay.request import parse_json_body
from app.relay.tasks import submit, suno
from app.services import tasks as task_service


def _error(exc: AppError):
    code = exc.task_code if isinstance(exc, suno.SunoError) else (exc.code or "invalid_request")
    return jsonify({"code": code, "message": exc.message, "data": None}), exc.status


def _caller() -> Caller:
    return authenticate(request.headers.get("Authorization"), request.remote_addr or "")


@bp.post("/suno/submit/<action>")
def suno_submit(action: str):
    try:
        caller = _caller()
        sub = suno.check_submit(action, parse_json_body(request.get_data(cache=False)))
        verdict = submit.submit(submit.suno_submission(caller, sub))
    except AppError as exc:
        return _error(exc)
    return Response(verdict.reply, verdict.status, content_type="application/json")


@bp.post("/suno/fetch")
def suno_fetch():
    """`{"ids": [...], "action": ...}` -> the caller's tasks among the ids."""
    try:
        caller = _caller()
        body = parse_json_body(request.get_data(cache=False))
    except AppError as exc:
        return _error(exc)
    ids = body.get("ids") if isinstance(body.get("ids"), list) else []
    rows = task_service.user_tasks_many(caller.user.id, suno.PLATFORM, ids)
    return jsonify({"code": "success", "message": "", "data": [suno.task_dto(row) for row in rows]})


@bp.get("/suno/fetch/<task_id>")
def suno_fetch_one(task_id: str):
    try:
        caller = _caller()
    except AppError as exc:
        return _error(exc)
    row = task_service.user_task(caller.user.id, suno.PLATFORM, task_id)
    if row is None:
        return _error(suno.SunoError("task_not_exist", task_code="task_not_exist"))
    return jsonify({"code": "success", "message": "", "data": suno.task_dto(row)})
