"""Two-factor authentication over the API (new-api's /api/user/2fa/* routes and the admin reset).
Thin: parse, call app.services.two_factor, answer in the envelope."""

from __future__ import annotations

from flask_login import current_user

from app.blueprints.api import bp
from app.services import two_factor
from app.services.users import get_user
from app.web.api import json_body, ok
from app.web.auth import admin_required, user_required


@bp.get("/user/2fa/status")
@user_required
def two_fa_status():
    return ok(two_factor.status(current_user.id))


@bp.post("/user/2fa/setup")
@user_required
def two_fa_setup():
    """A new secret, its otpauth URI and QR code (SVG) and 10 backup codes, shown this once."""
    return ok(two_factor.setup(current_user._get_current_object()),
              message="scan the QR code, then confirm with a code to turn two-factor authentication on")


@bp.post("/user/2fa/enable")
@user_required
def two_fa_enable():
    two_factor.enable(current_user._get_current_object(), json_body().get("code"))
    return ok(message="two-factor authentication is on")


@bp.post("/user/2fa/disable")
@user_required
def two_fa_disable():
    two_factor.disable(current_user._get_current_object(), json_body().get("code"))
    return ok(message="two-factor authentication is off")


@bp.post("/user/2fa/backup_codes")
@user_required
def two_fa_backup_codes():
    codes = two_factor.regenerate_backup_codes(current_user._get_current_object(), json_body().get("code"))
    return ok({"backup_codes": codes}, message="new backup codes; the old ones no longer work")


@bp.delete("/user/<int:user_id>/2fa")
@admin_required
def two_fa_admin_reset(user_id: int):
    two_factor.admin_reset(current_user._get_current_object(), get_user(current_user, user_id))
    return ok(message="two-factor authentication reset")
