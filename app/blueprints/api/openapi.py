"""GET /api/openapi.json: an OpenAPI 3 description of every /api route, built from the live route map.

Built from the app's own rules, so a route cannot exist without being described. Bodies and answers are
described by their common contract (a JSON object in, the envelope out); the per-route field lists live
in the views' validation, which schemathesis exercises against this description in the test suite.
"""

from __future__ import annotations

import re

from flask import current_app, jsonify

from app.blueprints.api import bp

CONVERTER = re.compile(r"<(?:(?P<conv>[a-z]+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
ENVELOPE = {
    "type": "object",
    "required": ["success", "message"],
    "properties": {"success": {"type": "boolean"}, "message": {"type": "string"}, "data": {}},
}
PAGING = [
    {"name": "p", "in": "query", "required": False, "schema": {"type": "integer"}},
    {"name": "page_size", "in": "query", "required": False, "schema": {"type": "integer"}},
]
SKIP_ENDPOINTS = {"api.openapi_get"}
# Callbacks whose caller fixes the answer's format: an epay gateway reads the plain body `success`/`fail`.
PLAIN_TEXT_ANSWERS = {"api.epay_notify": ["success", "fail"]}


def _path_and_params(rule) -> tuple[str, list[dict]]:
    params: list[dict] = []

    def replace(match: re.Match) -> str:
        name, conv = match.group("name"), match.group("conv") or "string"
        schema = {"type": "integer", "minimum": 0} if conv == "int" else {"type": "string", "minLength": 1}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
        return "{" + name + "}"

    return CONVERTER.sub(replace, rule.rule), params


def build_spec(app) -> dict:
    paths: dict[str, dict] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith("/api/") or rule.endpoint in SKIP_ENDPOINTS:
            continue
        path, params = _path_and_params(rule)
        view = app.view_functions.get(rule.endpoint)
        summary = ((view.__doc__ or "").strip().splitlines() or [rule.endpoint])[0] if view else rule.endpoint
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation: dict = {
                "operationId": f"{rule.endpoint}_{method.lower()}",
                "summary": summary,
                "parameters": params + (PAGING if method == "GET" else []),
                "responses": {"default": {"description": "The envelope; `success` says how it went.",
                                          "content": {"application/json": {"schema": ENVELOPE}}}},
            }
            if rule.endpoint in PLAIN_TEXT_ANSWERS:
                operation["responses"] = {"default": {"description": "A plain-text word for the caller.", "content": {
                    "text/plain": {"schema": {"type": "string", "enum": PLAIN_TEXT_ANSWERS[rule.endpoint]}}}}}
            if method in {"POST", "PUT", "PATCH"}:
                operation["requestBody"] = {
                    "required": False,
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.0.3",
        "info": {"title": "Sluice management API", "version": app.config.get("VERSION", "0")},
        "components": {"securitySchemes": {"accessToken": {"type": "http", "scheme": "bearer"}}},
        "security": [{"accessToken": []}, {}],
        "paths": paths,
    }


@bp.get("/openapi.json")
def openapi_get():
    """The OpenAPI description of this API."""
    return jsonify(build_spec(current_app))
