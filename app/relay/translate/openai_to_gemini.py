"""OpenAI chat -> Gemini generateContent: the request a Gemini channel receives, and (for Gemini
clients served by another channel) a chat completion turned into a GenerateContentResponse.

Wire format: https://ai.google.dev/api/generate-content (Content, Part, GenerationConfig,
SafetySetting, Tool/FunctionDeclaration, ToolConfig) and https://ai.google.dev/api/embeddings.
Gemini has no tool-call ids in requests: a `tool` message is matched to its call by id, and the
function name travels in `functionResponse.name`. Image URLs become `fileData` parts for Google to
read; we never fetch them ourselves.
"""

from __future__ import annotations

from typing import Any

from app.relay.translate import TranslationError
from app.relay.translate.common import (
    guess_media_type,
    is_http_url,
    loose_arguments,
    new_id,
    parse_arguments,
    parse_data_url,
    text_of,
    usage_from_openai,
)
from app.relay.types import Usage

# new-api's list (relay/channel/gemini/constant.go); the threshold is a channel setting.
SAFETY_CATEGORIES = ("HARM_CATEGORY_HARASSMENT", "HARM_CATEGORY_HATE_SPEECH", "HARM_CATEGORY_SEXUALLY_EXPLICIT",
                     "HARM_CATEGORY_DANGEROUS_CONTENT")
DEFAULT_SAFETY_THRESHOLD = "BLOCK_NONE"
# reasoning_effort -> thinkingBudget (https://ai.google.dev/gemini-api/docs/thinking)
THINKING_BUDGETS = {"none": 0, "minimal": 0, "low": 1024, "medium": 8192, "high": 24576}
FINISH_REASONS = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP", "function_call": "STOP",
                  "content_filter": "SAFETY"}
# JSON Schema keywords Gemini's OpenAPI-subset Schema refuses.
_SCHEMA_DROP = frozenset({"$schema", "$id", "$comment", "additionalProperties", "strict", "examples", "default"})


def safety_settings(threshold: str = DEFAULT_SAFETY_THRESHOLD) -> list[dict[str, str]]:
    return [{"category": c, "threshold": threshold} for c in SAFETY_CATEGORIES]


def clean_schema(schema: Any) -> Any:
    """A JSON Schema reduced to what Gemini's `Schema` accepts (type lists become `nullable`)."""
    if isinstance(schema, list):
        return [clean_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _SCHEMA_DROP:
            continue
        if key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            out["type"] = types[0] if types else "string"
            if "null" in value:
                out["nullable"] = True
        elif key == "const":
            out["enum"] = [value]
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: clean_schema(prop) for name, prop in value.items()}
        elif key in ("items", "anyOf", "oneOf", "allOf"):
            out["anyOf" if key == "oneOf" else key] = clean_schema(value)
        else:
            out[key] = value
    return out


def _part(part: Any, where: str) -> dict[str, Any] | None:
    if not isinstance(part, dict):
        raise TranslationError(f"{where}: a content part must be an object")
    kind = part.get("type")
    if kind in ("text", "input_text"):
        text = part.get("text")
        if not isinstance(text, str):
            raise TranslationError(f"{where}: a text part needs a string 'text'")
        return {"text": text} if text else None
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str) or not url:
            raise TranslationError(f"{where}: image_url.url must be a non-empty string")
        parsed = parse_data_url(url)
        if parsed is not None:
            return {"inlineData": {"mimeType": parsed[0], "data": parsed[1]}}
        if is_http_url(url) or url.startswith("gs://"):
            return {"fileData": {"mimeType": guess_media_type(url), "fileUri": url}}
        raise TranslationError(f"{where}: image_url.url must be an http(s) URL or a base64 data URL")
    if kind == "input_audio":
        audio = part.get("input_audio") if isinstance(part.get("input_audio"), dict) else {}
        if not isinstance(audio.get("data"), str) or not isinstance(audio.get("format"), str):
            raise TranslationError(f"{where}: input_audio needs data and format")
        return {"inlineData": {"mimeType": "audio/" + audio["format"], "data": audio["data"]}}
    if kind == "file":
        file = part.get("file") if isinstance(part.get("file"), dict) else {}
        parsed = parse_data_url(file["file_data"]) if isinstance(file.get("file_data"), str) else None
        if parsed is None:
            raise TranslationError(f"{where}: files must be given as base64 file_data")
        return {"inlineData": {"mimeType": parsed[0], "data": parsed[1]}}
    raise TranslationError(f"{where}: content part type {kind!r} is not supported by this model")


def _parts(content: Any, where: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise TranslationError(f"{where}: content must be a string or an array of parts")
    parts = [_part(p, f"{where}.content[{i}]") for i, p in enumerate(content)]
    return [p for p in parts if p is not None]


def _function_calls(message: dict[str, Any], where: str, names: dict[str, str]) -> list[dict[str, Any]]:
    calls = message.get("tool_calls") or []
    if not isinstance(calls, list):
        raise TranslationError(f"{where}.tool_calls must be an array")
    parts = []
    for j, call in enumerate(calls):
        at = f"{where}.tool_calls[{j}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise TranslationError(f"{at}: a tool call needs function.name")
        if not isinstance(call.get("id"), str) or not call["id"]:
            raise TranslationError(f"{at}: a tool call needs an id (tool results refer to it)")
        names[call["id"]] = fn["name"]
        parts.append({"functionCall": {"name": fn["name"], "args": parse_arguments(fn.get("arguments"), at)}})
    return parts


def _function_response(message: dict[str, Any], where: str, names: dict[str, str]) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    name = names.get(call_id) if isinstance(call_id, str) else None
    name = name or (message.get("name") if isinstance(message.get("name"), str) else None)
    if not name:
        raise TranslationError(f"{where}: a tool message must answer a tool call made earlier "
                               "(tool_call_id not found)")
    content = message.get("content")
    text = content if isinstance(content, str) else text_of(content)
    try:
        result = parse_arguments(text, where) if text.strip().startswith("{") else None
    except TranslationError:
        result = None
    return {"functionResponse": {"name": name, "response": result if result is not None else {"content": text}}}


def _contents(messages: list[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system instruction parts, Gemini contents) with consecutive same-role turns merged."""
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id -> function name
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise TranslationError(f"{where} must be an object")
        role = message.get("role")
        if role in ("system", "developer"):
            parts = _parts(message.get("content"), where)
            if any("text" not in p for p in parts):
                raise TranslationError(f"{where}: system messages may only contain text")
            system.extend(parts)
            continue
        if role == "user":
            gemini_role, parts = "user", _parts(message.get("content"), where)
        elif role == "assistant":
            gemini_role = "model"
            parts = _parts(message.get("content"), where) + _function_calls(message, where, names)
        elif role in ("tool", "function"):
            gemini_role, parts = "user", [_function_response(message, where, names)]
        else:
            raise TranslationError(f"{where}: unknown role {role!r}")
        if not parts:
            continue
        if contents and contents[-1]["role"] == gemini_role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": gemini_role, "parts": parts})
    return system, contents


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise TranslationError("'tools' must be an array")
    declarations = []
    for i, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, dict) and tool.get("type", "function") == "function" else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise TranslationError(f"tools[{i}]: only function tools with a name are supported")
        item: dict[str, Any] = {"name": fn["name"]}
        if isinstance(fn.get("description"), str):
            item["description"] = fn["description"]
        params = fn.get("parameters")
        if isinstance(params, dict) and params.get("properties"):
            item["parameters"] = clean_schema(params)
        declarations.append(item)
    return [{"functionDeclarations": declarations}]


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice in ("auto", "none", "required"):
        return {"functionCallingConfig": {"mode": {"auto": "AUTO", "none": "NONE", "required": "ANY"}[choice]}}
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict) and choice["function"].get("name"):
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [choice["function"]["name"]]}}
    raise TranslationError("'tool_choice' must be 'auto', 'none', 'required' or a named function")


def _generation_config(body: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for src, dst in (("temperature", "temperature"), ("top_p", "topP"), ("top_k", "topK"), ("seed", "seed"),
                     ("presence_penalty", "presencePenalty"), ("frequency_penalty", "frequencyPenalty")):
        if body.get(src) is not None:
            config[dst] = body[src]
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    if isinstance(body.get("n"), int) and body["n"] > 1:
        config["candidateCount"] = body["n"]
    stop = body.get("stop")
    if isinstance(stop, str):
        config["stopSequences"] = [stop]
    elif isinstance(stop, list) and stop:
        config["stopSequences"] = stop
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        schema = fmt.get("json_schema", {}).get("schema") if isinstance(fmt.get("json_schema"), dict) else None
        if isinstance(schema, dict):
            config["responseSchema"] = clean_schema(schema)
    effort = body.get("reasoning_effort")
    if effort in THINKING_BUDGETS:
        config["thinkingConfig"] = {"thinkingBudget": THINKING_BUDGETS[effort]}
    return config


def request(body: dict[str, Any], *, safety_threshold: str = DEFAULT_SAFETY_THRESHOLD,
            safety: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """A Gemini generateContent body from an OpenAI chat request (the model goes in the URL)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise TranslationError("'messages' must be a non-empty array")
    system, contents = _contents(messages)
    if not contents:
        raise TranslationError("'messages' must contain at least one user or assistant message")
    out: dict[str, Any] = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": system}
    if body.get("tools"):
        out["tools"] = _tools(body["tools"])
        config = _tool_config(body.get("tool_choice"))
        if config is not None:
            out["toolConfig"] = config
    out["safetySettings"] = safety if safety is not None else safety_settings(safety_threshold)
    generation = _generation_config(body)
    if generation:
        out["generationConfig"] = generation
    return out


def embed_request(body: dict[str, Any], model: str) -> dict[str, Any]:
    """A batchEmbedContents body from an OpenAI embeddings request (one request per input)."""
    inputs = body.get("input")
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not inputs or not all(isinstance(t, str) for t in inputs):
        raise TranslationError("'input' must be a string or an array of strings for this model")
    requests = []
    for text in inputs:
        item: dict[str, Any] = {"model": "models/" + model, "content": {"parts": [{"text": text}]}}
        if isinstance(body.get("dimensions"), int):
            item["outputDimensionality"] = body["dimensions"]
        requests.append(item)
    return {"requests": requests}


# -- responses ------------------------------------------------------------------------------------------
def usage_metadata(usage: Usage | None) -> dict[str, int]:
    """Gemini's `usageMetadata`: candidates exclude thoughts, which are counted apart."""
    usage = usage or Usage()
    out = {"promptTokenCount": usage.prompt_tokens,
           "candidatesTokenCount": max(usage.completion_tokens - usage.reasoning_tokens, 0),
           "totalTokenCount": usage.prompt_tokens + usage.completion_tokens}
    if usage.cached_tokens:
        out["cachedContentTokenCount"] = usage.cached_tokens
    if usage.reasoning_tokens:
        out["thoughtsTokenCount"] = usage.reasoning_tokens
    return out


def finish_reason(reason: Any) -> str:
    return FINISH_REASONS.get(reason, "STOP") if isinstance(reason, str) else "STOP"


def message_parts(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The parts of an OpenAI assistant message (or stream delta) in Gemini's shape."""
    parts: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        parts.append({"text": reasoning, "thought": True})
    text = text_of(message.get("content"))
    if text:
        parts.append({"text": text})
    for call in message.get("tool_calls") or ():
        fn = call.get("function") if isinstance(call, dict) else None
        if isinstance(fn, dict) and fn.get("name"):
            parts.append({"functionCall": {"id": call.get("id") or new_id("call_"), "name": fn["name"],
                                           "args": loose_arguments(fn.get("arguments"))}})
    return parts


def response(completion: dict[str, Any], model: str) -> dict[str, Any]:
    """A GenerateContentResponse from an OpenAI chat completion."""
    candidates = []
    for i, choice in enumerate(completion.get("choices") or ()):
        if not isinstance(choice, dict):
            continue
        message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
        candidates.append({"content": {"role": "model", "parts": message_parts(message) or [{"text": ""}]},
                           "finishReason": finish_reason(choice.get("finish_reason")),
                           "index": choice.get("index", i)})
    return {"candidates": candidates, "usageMetadata": usage_metadata(usage_from_openai(completion.get("usage"))),
            "modelVersion": model, "responseId": str(completion.get("id") or new_id(""))}


def embed_response(answer: dict[str, Any], expected: int, *, batch: bool) -> dict[str, Any] | None:
    """Gemini's EmbedContentResponse (`embedding`) or BatchEmbedContentsResponse (`embeddings`) from an
    OpenAI embeddings list; None when the list does not hold `expected` float vectors."""
    data = answer.get("data")
    if not isinstance(data, list) or len(data) != expected:
        return None
    vectors: list[tuple[int, list[Any]]] = []
    for position, item in enumerate(data):
        if not isinstance(item, dict) or not isinstance(item.get("embedding"), list):
            return None
        index = item.get("index")
        vectors.append((index if type(index) is int else position, item["embedding"]))
    embeddings = [{"values": values} for _, values in sorted(vectors, key=lambda pair: pair[0])]
    return {"embeddings": embeddings} if batch else {"embedding": embeddings[0]}
