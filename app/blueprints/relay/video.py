"""OpenAI's Videos API: POST /v1/videos, GET /v1/videos, GET and DELETE /v1/videos/{id}, and
GET /v1/videos/{id}/content.

Jobs are submitted through app.relay.tasks (charged at submit, polled by app.jobs.tasks, refunded once if
they fail). Every read filters on the caller's user: another user's video id is a 404, as an unknown one.
The client only ever sees Sluice's own video ids; the content is fetched from the job's channel and
streamed through without being held in memory. DELETE removes an ended video upstream and hides it from
its owner; the row stays (it records the charge and any refund). Errors are OpenAI's `{"error": {...}}`
(app.web.errors).
"""

from __future__ import annotations

from flask import Response, jsonify, request

from app.billing.quota import release_session
from app.blueprints.relay import bp
from app.errors import NotFound, UpstreamError, ValidationError
from app.relay import http, routing
from app.relay.adaptors.registry import task_adaptor
from app.relay.keys import Caller, authenticate
from app.relay.request import parse_json_body
from app.relay.tasks import finish, submit, video
from app.relay.tasks.common import DONE, FAILURE, FETCH_TIMEOUT, SUCCESS
from app.services import tasks as task_service
from app.validation import strict_int

CONTENT_READ_TIMEOUT = 300.0  # seconds between bytes of a video download (new-api waits as long)
PASSED_HEADERS = ("Content-Type", "Content-Length", "Content-Disposition", "Last-Modified", "ETag")


def _caller() -> Caller:
    return authenticate(request.headers.get("Authorization"), request.remote_addr or "")


def _create_fields() -> video.VideoSubmit:
    """The create request as JSON or multipart/form-data (openai-python sends multipart)."""
    if request.mimetype == "multipart/form-data":
        fields, repeated = video.form_fields(request.form)
        if repeated:
            raise ValidationError("each form field may be sent once")
        reference = None
        for name in request.files:
            if name != "input_reference" or len(request.files.getlist(name)) != 1:
                raise ValidationError(f"Unknown or repeated file parameter: '{name}'.", param=name)
            upload = request.files[name]
            data = upload.read(video.MAX_REFERENCE_BYTES + 1)
            reference = (upload.filename or "reference", data, upload.mimetype or "application/octet-stream")
        return video.check_create(fields, reference)
    if request.mimetype not in ("application/json", ""):
        raise ValidationError("send the request as application/json or multipart/form-data")
    return video.check_create(parse_json_body(request.get_data(cache=False)))


def _own_video(caller: Caller, video_id: str):
    row = task_service.user_task(caller.user.id, video.PLATFORM, video_id) if len(video_id) <= 191 else None
    if row is None:
        raise NotFound(f"Video with id '{video_id}' not found.", code="video_not_found", param="video_id")
    return row


def _upstream(row):
    """(channel, adaptor, key) of the channel that made the video; 410 when it is gone."""
    channel = routing.channels_by_id({row.channel_id}).get(row.channel_id) if row.channel_id else None
    adaptor = task_adaptor(channel.type, video.PLATFORM) if channel is not None else None
    if channel is None or adaptor is None:
        raise UpstreamError("the video is no longer available upstream", status=410, code="video_expired")
    return channel, adaptor, routing.select_key(channel)[1]


def _send(req, read_timeout: float):
    try:
        return http.send(req, connect_timeout=FETCH_TIMEOUT, read_timeout=read_timeout)
    except Exception as exc:  # noqa: BLE001 - requests' errors: the client gets an OpenAI error
        raise UpstreamError(f"the upstream could not be reached ({type(exc).__name__})") from None


@bp.post("/v1/videos")
def videos_create():
    caller = _caller()
    sub = _create_fields()
    verdict = submit.submit(submit.video_submission(caller, sub))
    if not verdict.accepted:
        return Response(verdict.reply, verdict.status, content_type="application/json")
    return jsonify(video.video_object(_own_video(caller, sub.public_id)))


@bp.get("/v1/videos")
def videos_list():
    caller = _caller()
    args = request.args
    limit = strict_int(args.get("limit") or "20", "limit", minimum=1, maximum=task_service.MAX_VIDEO_PAGE,
                       allow_str=True)
    order = args.get("order") or "desc"
    if order not in ("asc", "desc"):
        raise ValidationError("'order' must be 'asc' or 'desc'", param="order")
    after = (args.get("after") or "")[:191]
    rows, has_more = task_service.user_tasks_page(caller.user.id, video.PLATFORM, after=after, limit=limit,
                                                  order=order)
    data = [video.video_object(row) for row in rows]
    return jsonify({"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                    "last_id": data[-1]["id"] if data else None, "has_more": has_more})


@bp.get("/v1/videos/<video_id>")
def videos_retrieve(video_id: str):
    caller = _caller()
    return jsonify(video.video_object(_own_video(caller, video_id)))


@bp.delete("/v1/videos/<video_id>")
def videos_delete(video_id: str):
    """Delete an ended video upstream, then hide it from its owner; a running one cannot be deleted yet."""
    caller = _caller()
    row = _own_video(caller, video_id)
    if row.progress != DONE:
        raise ValidationError("Video is still being generated; delete it once it has completed or failed.",
                              code="video_not_finished")
    channel, adaptor, key = _upstream(row)
    response = _send(adaptor.delete_request(channel, key, video.upstream_id(row)), FETCH_TIMEOUT)
    try:
        status, content = response.status_code, response.content
    finally:
        response.close()
    if status >= 400 and status != 404:  # 404: the upstream has already dropped it
        failure = video.upstream_error(status, content)
        return Response(failure.reply, failure.status, content_type="application/json")
    if not finish.mark_deleted(row.id, task_service.DELETED):
        raise NotFound(f"Video with id '{video_id}' not found.", code="video_not_found", param="video_id")
    return jsonify({"id": video_id, "object": "video.deleted", "deleted": True})


@bp.get("/v1/videos/<video_id>/content")
def videos_content(video_id: str):
    caller = _caller()
    variant = request.args.get("variant") or "video"
    if variant not in video.VARIANTS:
        raise ValidationError("Invalid value for 'variant': expected one of " + ", ".join(video.VARIANTS) + ".",
                              param="variant", code="invalid_value")
    row = _own_video(caller, video_id)
    if row.status == FAILURE:
        raise ValidationError("Video generation failed; there is no content to download.",
                              code="video_generation_failed")
    if row.status != SUCCESS:
        raise ValidationError(f"Video is not ready yet, use GET /v1/videos/{video_id} to check status.",
                              code="video_not_ready")
    channel, adaptor, key = _upstream(row)
    response = _send(adaptor.content_request(channel, key, video.upstream_id(row), variant), CONTENT_READ_TIMEOUT)
    if response.status_code != 200:
        try:
            failure = video.upstream_error(response.status_code, response.content)
        finally:
            response.close()
        if response.status_code >= 400:
            return Response(failure.reply, failure.status, content_type="application/json")
        raise UpstreamError(f"the upstream answered the content request with status {response.status_code}")
    body = http.Body(response)

    def relay_bytes():
        try:
            yield from body
        finally:
            http.close(response, body)

    headers = {name: response.headers[name] for name in PASSED_HEADERS if name in response.headers}
    if response.headers.get("Content-Encoding"):  # Body decodes it: the length would no longer match
        headers.pop("Content-Length", None)
    headers.setdefault("Content-Type", video.VARIANTS[variant])
    release_session()  # a download may take minutes: hold no database connection meanwhile
    return Response(relay_bytes(), 200, headers=headers, direct_passthrough=True)
