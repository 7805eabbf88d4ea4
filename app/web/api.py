"""The /api envelope, strict JSON bodies and paging parameters."""

from __future__ import annotations

import json
from typing import Any

from flask import jsonify, request

from app.errors import ValidationError

MAX_PAGE_SIZE = 100
MAX_PAGE = 1_000_000  # keeps OFFSET far inside every database's integer range


def ok(data: Any = None, message: str = "", status: int = 200):
    """`{"success": true, "message": ..., "data": ...}`."""
    return jsonify({"success": True, "message": message, "data": data}), status


def fail(message: str, status: int = 400, data: Any = None):
    return jsonify({"success": False, "message": message, "data": data}), status


def _reject_constant(name: str):
    raise ValidationError(f"{name} is not allowed in JSON")


def _no_duplicates(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise ValidationError(f"duplicate key {key!r} in JSON body")
        obj[key] = value
    return obj


def json_body(required: bool = True) -> dict:
    """The request body as a JSON object: duplicate keys, NaN/Infinity and non-objects are refused."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        if required:
            raise ValidationError("request body must be a JSON object")
        return {}
    try:
        text = raw.decode("utf-8")
        body = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
    except UnicodeDecodeError:
        raise ValidationError("request body is not valid UTF-8") from None
    except RecursionError:
        raise ValidationError("request body is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ValidationError(f"request body is not valid JSON: {exc.msg}") from None
    if not isinstance(body, dict):
        raise ValidationError("request body must be a JSON object")
    return body


def page_args() -> tuple[int, int]:
    """1-based `p` and `page_size` from the query string, clamped to [1, 10^6] and [1, 100]."""
    def _int(name: str, default: int) -> int:
        raw = request.args.get(name, "")
        try:
            return int(raw)
        except ValueError:
            return default

    page = min(max(_int("p", 1), 1), MAX_PAGE)
    size = min(max(_int("page_size", 10), 1), MAX_PAGE_SIZE)
    return page, size


def page_result(items: list, total: int, page: int, page_size: int) -> dict:
    return {"items": items, "total": total, "page": page, "page_size": page_size}
