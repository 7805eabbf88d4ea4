"""OpenAI non-chat endpoints: embeddings, images, audio, moderations, models, legacy billing.

Shapes follow https://platform.openai.com/docs/api-reference; the billing endpoints are the legacy
``/dashboard/billing/*`` ones that one-api style gateways poll for channel balances.
"""

from __future__ import annotations

import base64
import hashlib
import math
import random
import struct
from typing import Any

from werkzeug.wrappers import Response

from .openai_common import check_required, json_body, new_id, now, response_model
from .server import Call, json_response

# A valid 1x1 PNG, served for image URLs and as b64_json.
PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
# An ID3 tag and a few silent MPEG-1 Layer III frames: enough for "is it audio bytes" checks.
FAKE_MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + (b"\xff\xfb\x90\x64" + bytes(413)) * 4
AUDIO_TYPES = {"mp3": "audio/mpeg", "opus": "audio/opus", "aac": "audio/aac", "flac": "audio/flac",
               "wav": "audio/wav", "pcm": "audio/pcm"}
MODEL_DIMENSIONS = {"text-embedding-3-large": 3072}
MODERATION_CATEGORIES = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent",
    "self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "sexual/minors", "violence",
    "violence/graphic",
)


def _headers(call: Call) -> dict[str, str]:
    return call.provider.base_headers(call)


# -- embeddings ----------------------------------------------------------------------------------
def _inputs(value: Any) -> list[Any]:
    """Embedding inputs: a string, token ids, or a list of either."""
    if isinstance(value, list) and value and all(isinstance(v, (str, list)) for v in value):
        return value
    return [value]


def _vector(text: Any, dims: int) -> list[float]:
    """A deterministic unit vector for ``text``."""
    rng = random.Random(hashlib.sha256(repr(text).encode()).digest())
    raw = [rng.uniform(-1.0, 1.0) for _ in range(dims)]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [struct.unpack("<f", struct.pack("<f", x / norm))[0] for x in raw]  # float32 values


def embeddings(call: Call) -> Response:
    body = json_body(call, "model", "input")
    if isinstance(body, Response):
        return body
    b = call.behaviour
    dims = body.get("dimensions") or b.embedding_dimensions or MODEL_DIMENSIONS.get(call.model, 1536)
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for i, item in enumerate(_inputs(body["input"])):
        vec = _vector(item, int(dims))
        value: Any = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode() if as_base64 else vec
        data.append({"object": "embedding", "index": i, "embedding": value})
    payload: dict[str, Any] = {"object": "list", "data": data, "model": response_model(call)}
    if b.send_usage:
        payload["usage"] = {"prompt_tokens": b.prompt_tokens, "total_tokens": b.prompt_tokens}
    return json_response(payload, headers=_headers(call))


# -- images --------------------------------------------------------------------------------------
def images_generations(call: Call) -> Response:
    body = json_body(call, "prompt")
    if isinstance(body, Response):
        return body
    b = call.behaviour
    model = call.model or "dall-e-2"
    gpt_image = model.startswith("gpt-image")
    as_b64 = gpt_image or body.get("response_format") == "b64_json"
    items = []
    for i in range(int(body.get("n") or 1)):
        item: dict[str, Any] = ({"b64_json": base64.b64encode(PNG_1X1).decode()} if as_b64
                                else {"url": call.upstream.url(f"/mock-files/img-{i}.png")})
        if model == "dall-e-3":
            item["revised_prompt"] = f"A revised prompt: {body['prompt']}"
        items.append(item)
    payload: dict[str, Any] = {"created": now(), "data": items}
    if gpt_image:
        payload.update(background="opaque", output_format="png", quality=body.get("quality") or "medium",
                       size=body.get("size") or "1024x1024")
        if b.send_usage:
            out = b.completion_tokens if b.completion_tokens is not None else 1056 * len(items)
            payload["usage"] = {"total_tokens": b.prompt_tokens + out, "input_tokens": b.prompt_tokens,
                                "output_tokens": out,
                                "input_tokens_details": {"text_tokens": b.prompt_tokens, "image_tokens": 0}}
    return json_response(payload, headers=_headers(call))


def mock_file(call: Call) -> Response:
    """The bytes behind image URLs the mock hands out."""
    return Response(PNG_1X1, content_type="image/png")


mock_file.public = True  # type: ignore[attr-defined]  # like OpenAI's signed image URLs


# -- audio ---------------------------------------------------------------------------------------
def audio_speech(call: Call) -> Response:
    body = json_body(call, "model", "input", "voice")
    if isinstance(body, Response):
        return body
    fmt = body.get("response_format") or "mp3"
    if fmt not in AUDIO_TYPES:
        return call.error(400, f"Invalid value: '{fmt}'. Supported values are: "
                               f"{', '.join(repr(f) for f in AUDIO_TYPES)}.",
                          error_param="response_format", error_code="invalid_value")
    half = len(FAKE_MP3) // 2
    # OpenAI streams speech with chunked transfer encoding; so do we.
    return Response(iter([FAKE_MP3[:half], FAKE_MP3[half:]]), content_type=AUDIO_TYPES[fmt],
                    headers=_headers(call), direct_passthrough=True)


def _timestamp(seconds: float, sep: str) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}{sep}{ms % 1000:03d}"


def _audio_text(call: Call, task: str) -> Response:
    """Transcriptions and translations: multipart in, json / text / srt / vtt / verbose_json out."""
    body = call.rec.form
    if "file" not in call.rec.files:
        return call.error(400, "Missing required parameter: 'file'.", error_param="file",
                          error_code="missing_required_parameter")
    checked = check_required(call, body, "model")
    if isinstance(checked, Response):
        return checked
    b = call.behaviour
    text, seconds = b.content, b.audio_seconds
    fmt = body.get("response_format") or "json"
    if fmt == "text":
        return Response(text + "\n", content_type="text/plain; charset=utf-8", headers=_headers(call))
    if fmt in ("srt", "vtt"):
        sep = "," if fmt == "srt" else "."
        cue = f"{_timestamp(0, sep)} --> {_timestamp(seconds, sep)}\n{text}\n\n"
        out = f"1\n{cue}" if fmt == "srt" else f"WEBVTT\n\n{cue}"
        return Response(out, content_type="text/plain; charset=utf-8", headers=_headers(call))

    duration_usage = {"type": "duration", "seconds": math.ceil(seconds)}
    if fmt == "verbose_json":
        words = text.split()
        payload: dict[str, Any] = {
            "task": task, "language": "english", "duration": seconds, "text": text,
            "segments": [{"id": 0, "seek": 0, "start": 0.0, "end": seconds, "text": " " + text,
                          "tokens": [50364 + i for i in range(len(words))], "temperature": 0.0,
                          "avg_logprob": -0.21, "compression_ratio": 1.1, "no_speech_prob": 0.01}],
        }
        granularities = body.get("timestamp_granularities[]") or body.get("timestamp_granularities") or []
        if "word" in (granularities if isinstance(granularities, list) else [granularities]):
            step = seconds / max(len(words), 1)
            payload["words"] = [{"word": w, "start": round(i * step, 2), "end": round((i + 1) * step, 2)}
                                for i, w in enumerate(words)]
        if task == "transcribe" and b.send_usage:
            payload["usage"] = duration_usage
        return json_response(payload, headers=_headers(call))
    if fmt != "json":
        return call.error(400, f"Invalid value: '{fmt}'.", error_param="response_format",
                          error_code="invalid_value")
    payload = {"text": text}
    if task == "transcribe" and b.send_usage:
        if call.model.startswith("whisper"):
            payload["usage"] = duration_usage
        else:  # gpt-4o-transcribe family bills tokens
            out = b.completion_tokens if b.completion_tokens is not None else len(b.reply_pieces())
            payload["usage"] = {"type": "tokens", "input_tokens": b.prompt_tokens,
                                "input_token_details": {"text_tokens": 0, "audio_tokens": b.prompt_tokens},
                                "output_tokens": out, "total_tokens": b.prompt_tokens + out}
    return json_response(payload, headers=_headers(call))


def audio_transcriptions(call: Call) -> Response:
    return _audio_text(call, "transcribe")


def audio_translations(call: Call) -> Response:
    return _audio_text(call, "translate")


# -- moderations ---------------------------------------------------------------------------------
def moderations(call: Call) -> Response:
    body = json_body(call, "input")
    if isinstance(body, Response):
        return body
    value = body["input"]
    # A list of strings is several inputs; a list of typed parts is one multimodal input.
    count = len(value) if isinstance(value, list) and all(isinstance(v, str) for v in value) else 1
    flagged = call.behaviour.flagged
    result = {
        "flagged": flagged,
        "categories": {c: flagged and c == "violence" for c in MODERATION_CATEGORIES},
        "category_scores": {c: 0.97 if flagged and c == "violence" else 1e-06 for c in MODERATION_CATEGORIES},
        "category_applied_input_types": {c: ["text"] for c in MODERATION_CATEGORIES},
    }
    return json_response({"id": new_id("modr-"), "model": call.model or "omni-moderation-latest",
                          "results": [result] * count}, headers=_headers(call))


# -- models --------------------------------------------------------------------------------------
def _model(model_id: str) -> dict[str, Any]:
    owner = "openai" if model_id.startswith(("gpt-4o", "o1", "o3", "gpt-image")) else "system"
    return {"id": model_id, "object": "model", "created": 1686935002, "owned_by": owner}


def models_list(call: Call) -> Response:
    return json_response({"object": "list", "data": [_model(m) for m in call.behaviour.models]},
                         headers=_headers(call))


def models_retrieve(call: Call) -> Response:
    model_id = call.args["model_id"]
    if model_id not in call.behaviour.models:
        call.rec.model = model_id
        return call.error(404, error_code="model_not_found")
    return json_response(_model(model_id), headers=_headers(call))


# -- legacy billing (channel balance checks) -----------------------------------------------------
def billing_subscription(call: Call) -> Response:
    limit = call.behaviour.hard_limit_usd
    return json_response({
        "object": "billing_subscription", "has_payment_method": True, "soft_limit_usd": round(limit * 0.8, 2),
        "hard_limit_usd": limit, "system_hard_limit_usd": limit, "access_until": now() + 30 * 86400,
    }, headers=_headers(call))


def billing_usage(call: Call) -> Response:
    """``total_usage`` is in cents, as OpenAI reported it."""
    return json_response({"object": "list", "daily_costs": [],
                          "total_usage": round(call.behaviour.used_usd * 100, 4)}, headers=_headers(call))


def billing_credit_grants(call: Call) -> Response:
    b = call.behaviour
    return json_response({
        "object": "credit_summary", "total_granted": b.hard_limit_usd, "total_used": b.used_usd,
        "total_available": round(b.hard_limit_usd - b.used_usd, 4), "grants": {"object": "list", "data": []},
    }, headers=_headers(call))
