"""A signed-in user's own wallet actions: redeem a code (POST /api/user/topup), daily check-in, and the
invitation code and transfer (GET /api/user/aff, POST /api/user/aff_transfer)."""

from __future__ import annotations

from flask import current_app
from flask_login import current_user

from app.blueprints.api import bp
from app.extensions import limiter, peer_address
from app.services import affiliate, checkin, redemption
from app.web.api import json_body, ok
from app.web.auth import user_required
from app.web.turnstile import turnstile_required


def _redeem_limit() -> str:
    return current_app.config.get("RATELIMIT_REDEEM", "20 per minute")


def _redeem_key() -> str:
    """Per user, so guessing codes is throttled however many addresses the guesser uses."""
    if current_user.is_authenticated:
        return f"redeem:user:{current_user.id}"
    return f"redeem:ip:{peer_address()}"


@bp.post("/user/topup")
@user_required
@limiter.limit(_redeem_limit, key_func=_redeem_key)
def topup_redeem():
    quota, is_gift = redemption.redeem(current_user, json_body().get("key"))
    return ok({"quota": quota, "is_gift": is_gift}, message="redeemed")


@bp.get("/user/check_in_status")
@user_required
def checkin_status():
    return ok(checkin.check_in_status(current_user))


@bp.post("/user/check_in")
@user_required
@turnstile_required
def checkin_create():
    reward = checkin.check_in(current_user)
    return ok({"quota": reward}, message="checked in")


@bp.get("/user/aff")
@user_required
def aff_code_get():
    """`data` is the code itself, as in Veloera and new-api."""
    return ok(affiliate.ensure_aff_code(current_user))


@bp.post("/user/aff_transfer")
@user_required
def aff_transfer():
    result = affiliate.transfer_aff_quota(current_user, json_body().get("quota"))
    return ok(result, message="transferred")
