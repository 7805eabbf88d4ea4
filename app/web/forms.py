"""Form fields (always strings) turned into the typed values the services validate.

The services take JSON-like dicts (ints, bools, lists) and do the real checks; these helpers only read
the browser's strings and raise the same ValidationError for text that is not a number at all.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time

from flask import request

from app.errors import ValidationError
from app.options import get_option

MAX_FIELD = 1 << 16


def text(name: str, default: str = "") -> str:
    return request.form.get(name, default)[:MAX_FIELD]


def checkbox(name: str) -> bool:
    """An HTML checkbox: present ("on", "1", "true") means True."""
    return request.form.get(name, "").lower() in {"on", "1", "true", "yes"}


def integer(name: str, default: int | None = None, *, source=None) -> int | None:
    raw = (source if source is not None else request.form).get(name, "").strip()
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValidationError(f"{name} must be a whole number") from None


def amount_to_quota(raw: str, name: str) -> int:
    """A price typed by a person: dollars when DisplayInCurrencyEnabled, else quota units."""
    raw = (raw or "").strip().replace(",", "").lstrip("$")
    if raw == "":
        return 0
    try:
        value = float(raw)
    except ValueError:
        raise ValidationError(f"{name} must be a number") from None
    if not math.isfinite(value) or value < 0:
        raise ValidationError(f"{name} must be a non-negative number")
    if get_option("DisplayInCurrencyEnabled"):
        value *= float(get_option("QuotaPerUnit"))
    return int(round(value))


def quota_to_input(quota: int | None) -> str:
    """The inverse of amount_to_quota, for pre-filling a form."""
    quota = quota or 0
    if get_option("DisplayInCurrencyEnabled"):
        return f"{quota / float(get_option('QuotaPerUnit')):.6f}".rstrip("0").rstrip(".")
    return str(quota)


def quota(name: str) -> int:
    return amount_to_quota(request.form.get(name, ""), name)


def end_of_day(name: str, *, empty: int = -1) -> int:
    """A date field (YYYY-MM-DD) as the unix second at the end of that day, UTC; `empty` when blank."""
    raw = request.form.get(name, "").strip()
    if not raw:
        return empty
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise ValidationError(f"{name} must be a date (YYYY-MM-DD)") from None
    return int(datetime.combine(day, time(23, 59, 59), tzinfo=UTC).timestamp())


def date_input(ts: int | None) -> str:
    """Unix seconds as the value of an <input type=date>, or "" for never."""
    if not ts or ts < 0:
        return ""
    return datetime.fromtimestamp(ts, tz=UTC).date().isoformat()


def ids(name: str = "ids") -> list[int]:
    """Checked row ids of a batch form."""
    out: list[int] = []
    for raw in request.form.getlist(name)[:1000]:
        try:
            out.append(int(raw))
        except ValueError:
            raise ValidationError(f"{name} must be row ids") from None
    if not out:
        raise ValidationError("select at least one row first")
    return out


def page_args(default_size: int = 20) -> tuple[int, int]:
    """1-based `p` and `page_size` from the query string (page_size clamped to 1..100)."""
    def number(name: str, default: int) -> int:
        try:
            return integer(name, default, source=request.args) or default
        except ValidationError:
            return default

    return max(number("p", 1), 1), min(max(number("page_size", default_size), 1), 100)


def day_bound(value: str, zone, *, end: bool = False) -> int:
    """A YYYY-MM-DD date as unix seconds at the start (or the last second) of that day in `zone`; 0 if blank."""
    if not value:
        return 0
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValidationError("dates must look like 2025-01-31") from None
    moment = datetime.combine(day, time(23, 59, 59) if end else time.min, tzinfo=zone)
    return int(moment.timestamp())


def log_query(zone) -> dict[str, str]:
    """The log filters of the query string, with the date fields `start`/`end` as unix timestamps."""
    args = {k: v for k, v in request.args.items() if k not in ("start", "end")}
    if request.args.get("start"):
        args["start_timestamp"] = str(day_bound(request.args["start"], zone))
    if request.args.get("end"):
        args["end_timestamp"] = str(day_bound(request.args["end"], zone, end=True))
    return args
