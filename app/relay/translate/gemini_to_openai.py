"""Gemini -> OpenAI chat: the request of a Gemini client served by a non-Gemini channel, and a Gemini
channel's GenerateContentResponse turned into a chat completion.

Wire format: https://ai.google.dev/api/generate-content. Gemini accepts both camelCase and
snake_case field names (proto JSON), so both are read. Function calls carry an `id` only on newer
models; without one, calls get ids here and each `functionResponse` answers the oldest open call
with its name.
"""

from __future__ import annotations

import re
from typing import Any

from app.relay.translate import TranslationError
from app.relay.translate.common import count, data_url, dumps, new_id, now, openai_usage
from app.relay.types import Usage

FINISH_REASONS = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter",
                  "RECITATION": "content_filter", "BLOCKLIST": "content_filter",
                  "PROHIBITED_CONTENT": "content_filter", "SPII": "content_filter", "IMAGE_SAFETY": "content_filter"}
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def get(obj: Any, camel: str, default: Any = None) -> Any:
    """`obj[camel]`, or the snake_case spelling of it (Gemini accepts both)."""
    if not isinstance(obj, dict):
        return default
    if camel in obj:
        return obj[camel]
    return obj.get(_CAMEL.sub("_", camel).lower(), default)


def usage(meta: Any) -> Usage | None:
    """OpenAI-sense `Usage` from Gemini's `usageMetadata`: thoughts are completion tokens, and
    prompt tokens already include the cached content."""
    if not isinstance(meta, dict):
        return None
    thoughts = count(get(meta, "thoughtsTokenCount"))
    return Usage(prompt_tokens=count(get(meta, "promptTokenCount")) + count(get(meta, "toolUsePromptTokenCount")),
                 completion_tokens=count(get(meta, "candidatesTokenCount")) + thoughts,
                 cached_tokens=count(get(meta, "cachedContentTokenCount")), reasoning_tokens=thoughts)


def finish_reason(reason: Any, has_calls: bool = False) -> str | None:
    if not isinstance(reason, str) or reason == "FINISH_REASON_UNSPECIFIED":
        return None
    result = FINISH_REASONS.get(reason, "stop")
    return "tool_calls" if has_calls and result == "stop" else result


# -- requests -------------------------------------------------------------------------------------------
def _lower_types(schema: Any) -> Any:
    """Gemini's Schema spells types in capitals (OBJECT, STRING); JSON Schema in lower case."""
    if isinstance(schema, list):
        return [_lower_types(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            out[key] = value.lower()
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: _lower_types(prop) for name, prop in value.items()}
        elif key in ("items", "anyOf"):
            out[key] = _lower_types(value)
        else:
            out[key] = value
    return out


class _Calls:
    """Ids for function calls, so that function responses can name the call they answer."""

    def __init__(self) -> None:
        self.open: list[tuple[str, str]] = []  # (id, name) not answered yet
        self.seq = 0

    def add(self, call: dict[str, Any]) -> str:
        self.seq += 1
        call_id = get(call, "id") or f"call_{self.seq}"
        self.open.append((call_id, call["name"]))
        return call_id

    def answer(self, name: str, call_id: Any, where: str) -> str:
        for i, (open_id, open_name) in enumerate(self.open):
            if (call_id and open_id == call_id) or (not call_id and open_name == name):
                del self.open[i]
                return open_id
        raise TranslationError(f"{where}: functionResponse {name!r} answers no earlier functionCall")


def _user_parts(parts: list[Any], where: str, calls: _Calls) -> list[dict[str, Any]]:
    """A user turn: function responses become `tool` messages first, the rest one user message."""
    tool_messages: list[dict[str, Any]] = []
    content: list[dict[str, Any]] = []
    for j, part in enumerate(parts):
        at = f"{where}.parts[{j}]"
        if not isinstance(part, dict):
            raise TranslationError(f"{at} must be an object")
        response = get(part, "functionResponse")
        if isinstance(response, dict):
            name = response.get("name")
            if not isinstance(name, str) or not name:
                raise TranslationError(f"{at}: functionResponse needs a name")
            call_id = calls.answer(name, get(response, "id"), at)
            tool_messages.append({"role": "tool", "tool_call_id": call_id,
                                  "content": dumps(response.get("response", {}))})
            continue
        item = _content_part(part, at)
        if item is not None:
            content.append(item)
    if content:
        text_only = all(p["type"] == "text" for p in content)
        tool_messages.append({"role": "user",
                              "content": "".join(p["text"] for p in content) if text_only else content})
    return tool_messages


def _content_part(part: dict[str, Any], where: str) -> dict[str, Any] | None:
    if isinstance(part.get("text"), str):
        return None if part.get("thought") else {"type": "text", "text": part["text"]}
    inline = get(part, "inlineData")
    if isinstance(inline, dict):
        mime, data = get(inline, "mimeType"), inline.get("data")
        if not isinstance(mime, str) or not isinstance(data, str):
            raise TranslationError(f"{where}: inlineData needs mimeType and data")
        if mime.startswith("image/"):
            return {"type": "image_url", "image_url": {"url": data_url(mime, data)}}
        if mime in ("audio/wav", "audio/mp3", "audio/mpeg"):
            return {"type": "input_audio", "input_audio": {"data": data, "format": "wav" if "wav" in mime else "mp3"}}
        return {"type": "file", "file": {"filename": "file", "file_data": data_url(mime, data)}}
    file_data = get(part, "fileData")
    if isinstance(file_data, dict):
        uri, mime = get(file_data, "fileUri"), get(file_data, "mimeType") or ""
        if isinstance(uri, str) and uri.startswith(("http://", "https://")) and mime.startswith("image/"):
            return {"type": "image_url", "image_url": {"url": uri}}
        raise TranslationError(f"{where}: fileData is only supported for image URLs on this model")
    if get(part, "thoughtSignature") is not None:
        return None
    raise TranslationError(f"{where}: unsupported part (expected text, inlineData, fileData, "
                           "functionCall or functionResponse)")


def _model_message(parts: list[Any], where: str, calls: _Calls) -> dict[str, Any] | None:
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for j, part in enumerate(parts):
        at = f"{where}.parts[{j}]"
        if not isinstance(part, dict):
            raise TranslationError(f"{at} must be an object")
        call = get(part, "functionCall")
        if isinstance(call, dict):
            if not isinstance(call.get("name"), str) or not call["name"]:
                raise TranslationError(f"{at}: functionCall needs a name")
            args = call.get("args", {})
            if not isinstance(args, dict):
                raise TranslationError(f"{at}: functionCall args must be an object")
            tool_calls.append({"id": calls.add(call), "type": "function",
                               "function": {"name": call["name"], "arguments": dumps(args)}})
        elif isinstance(part.get("text"), str):
            if not part.get("thought"):
                texts.append(part["text"])
        elif get(part, "thoughtSignature") is None:
            raise TranslationError(f"{at}: model turns may only hold text and functionCall parts")
    if not texts and not tool_calls:
        return None
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return message


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise TranslationError("'tools' must be an array")
    out = []
    for i, tool in enumerate(tools):
        declarations = get(tool, "functionDeclarations")
        if not isinstance(declarations, list):
            raise TranslationError(f"tools[{i}]: only functionDeclarations are available on this model")
        for decl in declarations:
            if not isinstance(decl, dict) or not isinstance(decl.get("name"), str):
                raise TranslationError(f"tools[{i}]: a function declaration needs a name")
            fn: dict[str, Any] = {"name": decl["name"]}
            if isinstance(decl.get("description"), str):
                fn["description"] = decl["description"]
            schema = get(decl, "parametersJsonSchema") or _lower_types(decl.get("parameters"))
            fn["parameters"] = schema if isinstance(schema, dict) else {"type": "object", "properties": {}}
            out.append({"type": "function", "function": fn})
    return out


def _tool_choice(config: Any) -> Any:
    fcc = get(config, "functionCallingConfig")
    mode = get(fcc, "mode")
    if mode is None:
        return None
    allowed = get(fcc, "allowedFunctionNames")
    if mode == "ANY" and isinstance(allowed, list) and len(allowed) == 1:
        return {"type": "function", "function": {"name": allowed[0]}}
    choice = {"AUTO": "auto", "ANY": "required", "NONE": "none", "VALIDATED": "auto"}.get(mode)
    if choice is None:
        raise TranslationError("toolConfig.functionCallingConfig.mode must be AUTO, ANY or NONE")
    return choice


def _generation(config: Any, out: dict[str, Any]) -> None:
    if not isinstance(config, dict):
        return
    for src, dst in (("temperature", "temperature"), ("topP", "top_p"), ("seed", "seed"),
                     ("maxOutputTokens", "max_tokens"), ("presencePenalty", "presence_penalty"),
                     ("frequencyPenalty", "frequency_penalty"), ("candidateCount", "n")):
        value = get(config, src)
        if value is not None:
            out[dst] = value
    stops = get(config, "stopSequences")
    if isinstance(stops, list) and stops:
        out["stop"] = stops
    if get(config, "responseMimeType") == "application/json":
        schema = get(config, "responseJsonSchema") or _lower_types(get(config, "responseSchema"))
        out["response_format"] = ({"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}
                                  if isinstance(schema, dict) else {"type": "json_object"})


def request(body: dict[str, Any], model: str) -> dict[str, Any]:
    """An OpenAI chat request from a Gemini generateContent body (the model comes from the URL)."""
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise TranslationError("contents must be a non-empty array")
    messages: list[dict[str, Any]] = []
    system = get(body, "systemInstruction")
    if system is not None:
        parts = system.get("parts") if isinstance(system, dict) else None
        if not isinstance(parts, list):
            raise TranslationError("systemInstruction must be a Content object with parts")
        text = "".join(p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str))
        if text:
            messages.append({"role": "system", "content": text})
    calls = _Calls()
    for i, content in enumerate(contents):
        where = f"contents[{i}]"
        if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
            raise TranslationError(f"{where} must be a Content object with a parts array")
        role = content.get("role") or "user"
        if role in ("user", "function"):
            messages.extend(_user_parts(content["parts"], where, calls))
        elif role == "model":
            message = _model_message(content["parts"], where, calls)
            if message is not None:
                messages.append(message)
        else:
            raise TranslationError(f"{where}.role: expected 'user' or 'model', got {role!r}")
    out: dict[str, Any] = {"model": model, "messages": messages}
    _generation(get(body, "generationConfig"), out)
    if body.get("tools"):
        out["tools"] = _tools(body["tools"])
        choice = _tool_choice(get(body, "toolConfig"))
        if choice is not None:
            out["tool_choice"] = choice
    return out


# -- responses ------------------------------------------------------------------------------------------
def candidate_delta(content: Any, start_index: int = 0) -> dict[str, Any]:
    """An OpenAI message (or delta) from a candidate's content; tool call indexes start at `start_index`."""
    texts, thoughts, calls = [], [], []
    for part in content.get("parts") or () if isinstance(content, dict) else ():
        if not isinstance(part, dict):
            continue
        call = get(part, "functionCall")
        if isinstance(call, dict):
            calls.append({"index": start_index + len(calls), "id": call.get("id") or new_id("call_"),
                          "type": "function",
                          "function": {"name": call.get("name") or "", "arguments": dumps(call.get("args") or {})}})
        elif isinstance(part.get("text"), str):
            (thoughts if part.get("thought") else texts).append(part["text"])
    message: dict[str, Any] = {}
    if texts:
        message["content"] = "".join(texts)
    if thoughts:
        message["reasoning_content"] = "".join(thoughts)
    if calls:
        message["tool_calls"] = calls
    return message


def response(body: dict[str, Any], model: str) -> dict[str, Any]:
    """An OpenAI chat completion from a GenerateContentResponse."""
    choices = []
    for i, candidate in enumerate(body.get("candidates") or ()):
        if not isinstance(candidate, dict):
            continue
        message = {"role": "assistant", "content": None, **candidate_delta(candidate.get("content"))}
        for call in message.get("tool_calls", ()):
            call.pop("index", None)
        if message["content"] is None and not message.get("tool_calls"):
            message["content"] = ""
        finish = finish_reason(get(candidate, "finishReason"), bool(message.get("tool_calls"))) or "stop"
        choices.append({"index": candidate.get("index", i), "message": message, "logprobs": None,
                        "finish_reason": finish})
    if not choices and get(get(body, "promptFeedback"), "blockReason"):
        choices.append({"index": 0, "message": {"role": "assistant", "content": ""}, "logprobs": None,
                        "finish_reason": "content_filter"})
    result: dict[str, Any] = {"id": "chatcmpl-" + str(get(body, "responseId") or new_id("")),
                              "object": "chat.completion", "created": now(),
                              "model": model, "choices": choices}
    found = usage(get(body, "usageMetadata"))
    if found is not None:
        result["usage"] = openai_usage(found)
    return result


def embed_response(body: dict[str, Any], model: str, prompt_tokens: int) -> dict[str, Any]:
    """An OpenAI embeddings list from a batchEmbedContents (or embedContent) answer."""
    items = body.get("embeddings")
    if items is None and isinstance(body.get("embedding"), dict):
        items = [body["embedding"]]
    data = [{"object": "embedding", "index": i, "embedding": item.get("values") or []}
            for i, item in enumerate(items or ()) if isinstance(item, dict)]
    return {"object": "list", "data": data, "model": model,
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}}


# -- embeddings (a Gemini client served by an OpenAI-family channel) ------------------------------------
def embed_items(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The EmbedContentRequests of an embedContent body (itself) or a batchEmbedContents body (`requests`)."""
    items = body.get("requests") if "requests" in body else [body]
    return [item for item in items or () if isinstance(item, dict)]


def embed_text(item: dict[str, Any]) -> str:
    """The text of one EmbedContentRequest: its text parts, joined by a space (Gemini embeds them as one)."""
    parts = get(item.get("content"), "parts")
    return " ".join(p["text"] for p in parts or () if isinstance(p, dict) and isinstance(p.get("text"), str))


def embed_request(body: dict[str, Any], model: str) -> dict[str, Any]:
    """An OpenAI embeddings request for an embedContent or batchEmbedContents body: one input per content.

    OpenAI embeds text only and takes one `dimensions` for the whole call, so a non-text part or
    requests asking for different output sizes cannot be served (TranslationError, a 400).
    """
    inputs: list[str] = []
    sizes: set[int] = set()
    for i, item in enumerate(embed_items(body)):
        for part in get(item.get("content"), "parts") or ():
            if not isinstance(part, dict) or not isinstance(part.get("text"), str):
                raise TranslationError(f"requests[{i}].content: only text parts can be embedded by this model")
        inputs.append(embed_text(item))
        size = get(item, "outputDimensionality")
        if size is not None:
            sizes.add(size)
    if len(sizes) > 1:
        raise TranslationError("every request must ask for the same outputDimensionality with this model")
    out: dict[str, Any] = {"model": model, "input": inputs}
    if sizes:
        out["dimensions"] = sizes.pop()
    return out
