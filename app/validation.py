"""Strict checks for values that come from outside (JSON bodies, query strings, forms).

Each raises ValidationError with a message fit to show the caller. Standard library only.
"""

from __future__ import annotations

import math
import unicodedata
from typing import Any

from app.errors import ValidationError

MAX_INT64 = 2**63 - 1


def strict_int(value: Any, name: str, *, minimum: int | None = None, maximum: int | None = MAX_INT64,
               allow_str: bool = False) -> int:
    """An integer, not a bool, float, NaN or string (unless allow_str and it is all digits)."""
    if isinstance(value, bool) or value is None:
        raise ValidationError(f"{name} must be an integer")
    if isinstance(value, str) and allow_str:
        text = value.strip()
        if not (text.lstrip("-").isdigit() and text.count("-") <= 1 and not text.startswith("--")):
            raise ValidationError(f"{name} must be an integer")
        value = int(text)
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise ValidationError(f"{name} must be an integer")
        value = int(value)
    if not isinstance(value, int):
        raise ValidationError(f"{name} must be an integer")
    if minimum is not None and value < minimum:
        raise ValidationError(f"{name} must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise ValidationError(f"{name} must be at most {maximum}")
    return value


def strict_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"{name} must be true or false")
    return value


def clean_text(value: Any, name: str, *, max_len: int, min_len: int = 0, nfkc: bool = True,
               allow_newlines: bool = False) -> str:
    """A string: NFKC-normalised, no NUL or other control characters, no lone surrogates, within length."""
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string")
    if nfkc:
        value = unicodedata.normalize("NFKC", value)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(f"{name} is not valid UTF-8 text") from None
    for ch in value:
        if ch in "\r\n\t" and allow_newlines:
            continue
        if unicodedata.category(ch) in {"Cc", "Cs"}:
            raise ValidationError(f"{name} must not contain control characters")
    if len(value) < min_len:
        raise ValidationError(f"{name} must be at least {min_len} characters")
    if len(value) > max_len:
        raise ValidationError(f"{name} must be at most {max_len} characters")
    return value


def username(value: Any) -> str:
    """Usernames: 1-20 characters (one-api's limit is 12; we allow a little more), no spaces or markup."""
    name = clean_text(value, "username", max_len=20, min_len=1).strip()
    if not name:
        raise ValidationError("username must not be empty")
    bad = set(name) & set(" <>\"'&/\\`")
    if bad:
        raise ValidationError("username may contain letters, digits and . _ - @ only")
    if not all(ch.isalnum() or ch in "._-@" for ch in name):
        raise ValidationError("username may contain letters, digits and . _ - @ only")
    return name


def password(value: Any) -> str:
    """Passwords: 8-64 characters, NFKC-normalised so look-alike input logs in the same way."""
    return clean_text(value, "password", max_len=64, min_len=8)


def display_name(value: Any) -> str:
    return clean_text(value, "display_name", max_len=64).strip()
