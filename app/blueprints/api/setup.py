"""First-run setup over the API: GET /api/setup (state) and POST /api/setup (create root, once)."""

from __future__ import annotations

from app.blueprints.api import bp
from app.database import database_type
from app.extensions import db
from app.options import options
from app.services.setup import perform_setup, root_exists
from app.validation import strict_bool
from app.web.api import json_body, ok
from app.web.hooks import is_setup_done, mark_setup_done


@bp.get("/setup")
def setup_get():
    """`{status: setup done, root_init: a root user exists, database_type}` (new-api's shape)."""
    return ok({"status": is_setup_done(), "root_init": root_exists(), "database_type": database_type(db.engine)})


@bp.post("/setup")
def setup_post():
    """`{username, password, confirmPassword[, SelfUseModeEnabled]}` -> the root user; 409 once set up."""
    body = json_body()
    self_use = body.get("SelfUseModeEnabled")
    if self_use is not None:
        self_use = strict_bool(self_use, "SelfUseModeEnabled")  # checked before anything is written
    user = perform_setup(body.get("username"), body.get("password"), body.get("confirmPassword"))
    mark_setup_done()
    if self_use is not None:
        options().update({"SelfUseModeEnabled": self_use})
    return ok({"id": user.id, "username": user.username}, message="setup complete; sign in as the root user")
