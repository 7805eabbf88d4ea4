"""Render a page or one of its fragments, and tell the browser about results (toasts, refreshes).

Every HTMX route answers a plain request with the full page and an HTMX request with the fragment
the page includes (STYLE habit 11). Boosted navigation and history restores need the full page too.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_htmx.constants import HTMX_STOP_POLLING

from app.extensions import htmx

# Answer a poll with this status and htmx swaps the answer in and stops that element's polling
# (htmx docs "Load Polling"/"every"; flask-htmx HTMXResponseStopPolling).
STOP_POLLING = HTMX_STOP_POLLING


def wants_fragment() -> bool:
    """True for an HTMX request that swaps part of a page (not boosted, not a history restore)."""
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def polled_by(element_id: str) -> bool:
    """True for the request of the element `element_id` polling itself (htmx sends its id as HX-Trigger)."""
    return wants_fragment() and htmx.trigger == element_id


def render(page: str, fragment: str | None = None, /, *, status: int = 200, **context: Any):
    """The full `page`, or only `fragment` when the request is an HTMX swap.

    Positional-only, so the context may hold `page` (the page number of a list) too.
    """
    template = fragment if fragment and wants_fragment() else page
    response = make_response(render_template(template, **context), status)
    # The same URL answers with two bodies: caches must key on the header.
    response.vary.add("HX-Request")
    return response


def trigger(response, event: str, detail: Any = True):
    """Add an event to the HX-Trigger header, keeping events already there."""
    events: dict[str, Any] = {}
    current = response.headers.get("HX-Trigger")
    if current:
        try:
            events = json.loads(current)
        except ValueError:
            events = {name.strip(): True for name in current.split(",") if name.strip()}
    events[event] = detail
    # Header values are Latin-1 on the wire: keep JSON ASCII-only (\uXXXX), which JSON.parse reads back.
    response.headers["HX-Trigger"] = json.dumps(events)
    return response


def toast(response, message: str, level: str = "success"):
    """Show `message` in a toast once the browser has the response (static/js/app.js listens)."""
    return trigger(response, "toast", {"message": str(message), "level": level})


def done(message: str, endpoint: str, *, level: str = "success", event: str | None = None,
         fragment_body: str = "", **url_values: Any):
    """The answer to a write: a toast (and `event`) for HTMX, a flash and a redirect otherwise."""
    if wants_fragment():
        response = make_response(fragment_body, 200)
        if event:
            trigger(response, event)
        return toast(response, message, level)
    flash(str(message), level)
    return redirect(url_for(endpoint, **url_values))


def safe_next(value: str | None, default: str = "/") -> str:
    """A same-site path to go back to, else `default`: absolute and scheme-relative URLs, backslashes and
    control characters (which browsers may read as another host) are refused."""
    if not value or len(value) > 2048 or not value.startswith("/") or value.startswith("//"):
        return default
    if "\\" in value or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return default
    parts = urlsplit(value)
    return default if parts.scheme or parts.netloc else value


def current_path() -> str:
    """The path and query of this request, for `next=` links."""
    return request.full_path.rstrip("?")
