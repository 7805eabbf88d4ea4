"""The midjourney-proxy API: /mj/submit/*, /mj/task/{id}/fetch, /mj/task/list-by-condition, /mj/image/{id}.

Also under /{mode}/mj/... (mj-fast, mj-turbo, mj-relax ...), as new-api serves them; like new-api, the
mode prefix is not passed upstream. The key comes in `mj-api-secret` or `Authorization: Bearer`.
Refusals are midjourney-proxy shaped: `{"code": 4, "description": ..., "type": ..., "result": null}`
with an HTTP status (401 bad key, 403 quota, 503 no channel ...). Task ids are the upstream ids
(midjourney-proxy's `result`), and a user only ever sees their own tasks.
"""

from __future__ import annotations

import requests
from flask import Response, jsonify, request

from app.blueprints.relay import bp
from app.errors import AppError
from app.relay import http
from app.relay.keys import Caller, authenticate
from app.relay.request import parse_json_body
from app.relay.tasks import midjourney, submit
from app.relay.types import UpstreamRequest
from app.services import tasks as task_service

JSON = "application/json"
IMAGE_TIMEOUT = 30.0


def _error(exc: AppError):
    code = exc.mj_code if isinstance(exc, midjourney.MidjourneyError) else midjourney.REQUEST_ERROR
    return jsonify({"code": code, "description": exc.message, "type": exc.error_type, "result": None}), exc.status


def _mode_ok(mode: str | None) -> bool:
    return mode is None or (mode.startswith("mj-") and len(mode) <= 32)


def _not_found():
    return jsonify({"code": midjourney.REQUEST_ERROR, "description": "not found", "type": "invalid_request_error",
                    "result": None}), 404


def _caller() -> Caller:
    credential = request.headers.get("mj-api-secret") or request.headers.get("Authorization")
    return authenticate(credential, request.remote_addr or "")


@bp.post("/mj/submit/<route>")
@bp.post("/<mode>/mj/submit/<route>")
def mj_submit(route: str, mode: str | None = None):
    """imagine, change, simple-change, blend, describe, shorten, modal, action (plus), video, edits."""
    if not _mode_ok(mode):
        return _not_found()
    try:
        caller = _caller()
        sub = midjourney.check_submit(route, parse_json_body(request.get_data(cache=False)))
        verdict = submit.submit(submit.midjourney_submission(caller, sub))
    except AppError as exc:
        return _error(exc)
    return Response(verdict.reply, verdict.status, content_type=JSON)


@bp.get("/mj/task/<task_id>/fetch")
@bp.get("/<mode>/mj/task/<task_id>/fetch")
def mj_task_fetch(task_id: str, mode: str | None = None):
    """One of the caller's tasks, in midjourney-proxy's task shape."""
    if not _mode_ok(mode):
        return _not_found()
    try:
        caller = _caller()
    except AppError as exc:
        return _error(exc)
    row = task_service.user_midjourney(caller.user.id, task_id)
    if row is None:
        return _error(midjourney.MidjourneyError("task_no_found", status=404))
    return jsonify(midjourney.task_dto(row))


@bp.post("/mj/task/list-by-condition")
@bp.post("/<mode>/mj/task/list-by-condition")
def mj_task_list(mode: str | None = None):
    """`{"ids": [...]}` -> the caller's tasks among them (unknown and other users' ids are left out)."""
    if not _mode_ok(mode):
        return _not_found()
    try:
        caller = _caller()
        body = parse_json_body(request.get_data(cache=False))
    except AppError as exc:
        return _error(exc)
    ids = body.get("ids")
    if not isinstance(ids, list):
        ids = []
    rows = task_service.user_midjourney_many(caller.user.id, [str(i) for i in ids if isinstance(i, (str, int))])
    return jsonify([midjourney.task_dto(row) for row in rows])


@bp.get("/mj/image/<task_id>")
@bp.get("/<mode>/mj/image/<task_id>")
def mj_image(task_id: str, mode: str | None = None):
    """The task's image, fetched from the upstream's URL (for clients that cannot reach the CDN)."""
    if not _mode_ok(mode):
        return _not_found()
    url = task_service.midjourney_image_url(task_id)
    if url is None:
        return jsonify({"error": "midjourney_task_not_found"}), 404
    try:
        upstream = http.send(UpstreamRequest("GET", url, {}, stream=True), connect_timeout=10.0,
                             read_timeout=IMAGE_TIMEOUT)
    except requests.RequestException:
        return jsonify({"error": "http_get_image_failed"}), 502
    if upstream.status_code != 200:
        upstream.close()
        return jsonify({"error": f"the image host answered {upstream.status_code}"}), 502
    body = http.Body(upstream)

    def chunks():
        try:
            yield from body
        finally:
            http.close(upstream, body)

    content_type = upstream.headers.get("Content-Type") or "image/jpeg"
    return Response(chunks(), 200, content_type=content_type, headers={"Cache-Control": "public, max-age=86400"})
