"""/api/channel test, fetch_models and update_balance (admin only), following new-api's routes.

Answers use new-api's shapes inside our envelope: a test answers `{success, message, time}`, a balance
update `{success, message, balance}`, so scripts written for new-api keep working.
"""

from __future__ import annotations

from flask import jsonify, request

from app.blueprints.api import bp
from app.errors import ValidationError
from app.jobs import channels as channel_jobs
from app.jobs.queues import enqueue
from app.relay import channel_test
from app.web.api import json_body, ok
from app.web.auth import admin_required


@bp.get("/channel/test/<int:channel_id>")
@admin_required
def channel_test_one(channel_id: int):
    """Test one channel now with a real request (`?model=` picks the model)."""
    result = channel_test.test_channel(channel_id, request.args.get("model"))
    return jsonify({"success": result.success, "message": result.message, "time": result.seconds,
                    "data": {"model": result.model, "enabled": result.enabled}})


@bp.get("/channel/test")
@admin_required
def channel_test_all():
    """Test every channel in the background; one run at a time."""
    if channel_jobs.is_running("channel-test"):
        return jsonify({"success": False, "message": "a channel test run is already in progress", "data": None})
    enqueue(channel_jobs.test_all_channels)
    return ok(message="channel test started")


@bp.get("/channel/fetch_models/<int:channel_id>")
@admin_required
def channel_fetch_models(channel_id: int):
    return ok(channel_test.fetch_channel_models(channel_id))


@bp.post("/channel/fetch_models")
@admin_required
def channel_fetch_models_unsaved():
    """Models of a channel that is not saved yet: `{"base_url", "type", "key"}`."""
    body = json_body()
    channel_type, key, base_url = body.get("type", 1), body.get("key"), body.get("base_url") or ""
    if type(channel_type) is not int or not isinstance(key, str) or not key.strip() or not isinstance(base_url, str):
        raise ValidationError("type (integer), key and base_url (strings) are required")
    return ok(channel_test.fetch_models(channel_type, base_url.strip(), key))


@bp.get("/channel/update_balance/<int:channel_id>")
@admin_required
def channel_update_balance(channel_id: int):
    balance = channel_test.update_balance(channel_id)
    return jsonify({"success": True, "message": "", "balance": balance, "data": {"balance": balance}})


@bp.get("/channel/update_balance")
@admin_required
def channel_update_balance_all():
    """Refresh every channel's balance in the background; one run at a time."""
    if channel_jobs.is_running("channel-balance"):
        return jsonify({"success": False, "message": "a balance update is already in progress", "data": None})
    enqueue(channel_jobs.update_all_balances)
    return ok(message="balance update started")
