"""/api/option/: runtime settings (root only), like new-api: a list of {key, value}, values as strings.

Options whose name ends in Secret, Token or Key are never returned (they can still be written). A write is
either new-api's single `{"key": ..., "value": ...}` or an object of many options; every value is
validated by `options().update` and nothing is stored if any of them is invalid.
"""

from __future__ import annotations

from app.blueprints.api import bp
from app.errors import ValidationError
from app.options import PUBLIC_KEYS, options, serialize_value
from app.web.api import json_body, ok
from app.web.auth import root_required


@bp.get("/option/", strict_slashes=False)
@root_required
def option_list():
    """Every option except secrets, as `[{key, value}]` with the value in its stored text form."""
    values = options().all()
    return ok([{"key": key, "value": serialize_value(key, values[key])}
               for key in sorted(values) if key in PUBLIC_KEYS])


@bp.put("/option/", strict_slashes=False)
@root_required
def option_update():
    """Change one option (`{"key", "value"}`) or several (`{"Name": value, ...}`) atomically."""
    body = json_body()
    if set(body) == {"key", "value"}:
        if not isinstance(body["key"], str):
            raise ValidationError("key must be a string")
        changes = {body["key"]: body["value"]}
    else:
        changes = body
    if not changes:
        raise ValidationError("nothing to update")
    updated = options().update(changes)
    return ok({"updated": sorted(updated)})
