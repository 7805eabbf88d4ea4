"""Helpers shared by the translations: data URLs, ids, tool arguments, OpenAI usage objects."""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import Any

from app.relay.translate import TranslationError
from app.relay.types import Usage

_DATA_URL = re.compile(r"^data:([\w.+\-]+/[\w.+\-]+)?(?:;[\w\-]+=[\w\-.]+)*;base64,", re.ASCII)
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
_EXTENSION_TYPES = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif",
                    "webp": "image/webp", "pdf": "application/pdf", "mp3": "audio/mp3", "wav": "audio/wav",
                    "mp4": "video/mp4"}


def parse_data_url(url: str) -> tuple[str, str] | None:
    """(media type, base64 payload) of a `data:<type>;base64,<payload>` URL, else None."""
    match = _DATA_URL.match(url)
    if match is None:
        return None
    return (match.group(1) or "application/octet-stream").lower(), url[match.end():]


def data_url(media_type: str, data: str) -> str:
    return f"data:{media_type};base64,{data}"


def is_http_url(url: str) -> bool:
    return url[:8].lower() == "https://" or url[:7].lower() == "http://"


def guess_media_type(url: str, default: str = "image/jpeg") -> str:
    """The media type suggested by a URL's file extension (the URL itself is never fetched)."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    ext = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    return _EXTENSION_TYPES.get(ext, default)


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + secrets.token_hex(length // 2)


def now() -> int:
    return int(time.time())


def dumps(obj: Any) -> str:
    """Compact JSON, non-ASCII kept, as the providers send tool arguments."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def parse_arguments(arguments: Any, where: str) -> dict[str, Any]:
    """Tool-call arguments (a JSON object encoded as a string, or already an object) as a dict."""
    if isinstance(arguments, dict):
        return arguments
    if arguments is None or arguments == "":
        return {}
    if isinstance(arguments, str):
        try:
            value = json.loads(arguments)
        except ValueError:
            raise TranslationError(f"{where}: the tool call arguments are not valid JSON") from None
        if isinstance(value, dict):
            return value
    raise TranslationError(f"{where}: the tool call arguments must be a JSON object")


def loose_arguments(arguments: Any) -> dict[str, Any]:
    """Arguments from an upstream answer: never refused (a truncated call keeps its raw text)."""
    try:
        return parse_arguments(arguments, "")
    except TranslationError:
        return {"_raw_arguments": arguments}


def text_of(content: Any) -> str:
    """The text of an OpenAI message content: a string, or the `text` of its text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content
                       if isinstance(p, dict) and p.get("type") in ("text", "input_text", "output_text")
                       and isinstance(p.get("text"), str))
    return ""


def openai_usage(usage: Usage) -> dict[str, Any]:
    """An OpenAI chat `usage` object; cache writes go in `prompt_tokens_details.cached_creation_tokens`
    (new-api's name) so a translated answer still tells what was billed."""
    details: dict[str, Any] = {"cached_tokens": usage.cached_tokens}
    if usage.cache_creation_tokens:
        details["cached_creation_tokens"] = usage.cache_creation_tokens
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        "prompt_tokens_details": details,
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def usage_from_openai(obj: Any) -> Usage | None:
    """`Usage` from an OpenAI chat `usage` object (None when there is none)."""
    if not isinstance(obj, dict) or ("prompt_tokens" not in obj and "completion_tokens" not in obj):
        return None
    usage = Usage(prompt_tokens=count(obj.get("prompt_tokens")), completion_tokens=count(obj.get("completion_tokens")))
    details = obj.get("prompt_tokens_details")
    if isinstance(details, dict):
        usage.cached_tokens = count(details.get("cached_tokens"))
        usage.cache_creation_tokens = count(details.get("cached_creation_tokens"))
    done = obj.get("completion_tokens_details")
    if isinstance(done, dict):
        usage.reasoning_tokens = count(done.get("reasoning_tokens"))
    return usage


def count(value: Any) -> int:
    """A token count from an upstream: non-negative int, anything else 0."""
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else 0


def opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
