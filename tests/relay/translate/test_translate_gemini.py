"""OpenAI chat <-> Gemini generateContent, with fixtures from https://ai.google.dev/api/generate-content
and https://ai.google.dev/api/embeddings."""

from __future__ import annotations

import pytest

from app.relay.translate import TranslationError, gemini_to_openai, openai_to_gemini
from app.relay.types import Usage

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                    "unit": {"type": ["string", "null"]}},
                   "required": ["city"], "additionalProperties": False, "$schema": "x"}}}


def test_system_roles_inline_images_and_generation_config():
    out = openai_to_gemini.request({"model": "gemini-2.5-flash", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                     {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                                     {"type": "image_url", "image_url": {"url": "https://example.com/x.webp"}}]},
        {"role": "assistant", "content": "A pixel."},
        {"role": "user", "content": "Sure?"}],
        "temperature": 0.7, "top_p": 0.8, "max_tokens": 256, "stop": ["END"], "n": 2, "seed": 3})
    assert out["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert out["contents"] == [
        {"role": "user", "parts": [{"text": "What is this?"}, {"inlineData": {"mimeType": "image/png", "data": PNG}},
                                   {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/x.webp"}}]},
        {"role": "model", "parts": [{"text": "A pixel."}]},
        {"role": "user", "parts": [{"text": "Sure?"}]}]
    assert out["generationConfig"] == {"temperature": 0.7, "topP": 0.8, "maxOutputTokens": 256,
                                       "stopSequences": ["END"], "candidateCount": 2, "seed": 3}
    assert out["safetySettings"] == [{"category": c, "threshold": "BLOCK_NONE"}
                                     for c in openai_to_gemini.SAFETY_CATEGORIES]


def test_safety_threshold_is_configurable():
    out = openai_to_gemini.request({"model": "m", "messages": [{"role": "user", "content": "x"}]},
                                   safety_threshold="BLOCK_ONLY_HIGH")
    assert {s["threshold"] for s in out["safetySettings"]} == {"BLOCK_ONLY_HIGH"}


def test_function_declarations_calls_and_responses():
    out = openai_to_gemini.request({"model": "m", "tools": [WEATHER_TOOL],
                                    "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
                                    "messages": [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
            {"id": "c2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": '{"temp": 18}'},
        {"role": "tool", "tool_call_id": "c2", "content": "24 degrees"}]})
    assert out["tools"] == [{"functionDeclarations": [{
        "name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                        "unit": {"type": "string", "nullable": True}},
                       "required": ["city"]}}]}]
    assert out["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}
    assert out["contents"][1] == {"role": "model", "parts": [
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
        {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}]}
    # parallel answers go back in one user turn
    assert out["contents"][2] == {"role": "user", "parts": [
        {"functionResponse": {"name": "get_weather", "response": {"temp": 18}}},
        {"functionResponse": {"name": "get_weather", "response": {"content": "24 degrees"}}}]}


@pytest.mark.parametrize("message,fragment", [
    ({"role": "robot", "content": "x"}, "unknown role"),
    ({"role": "tool", "tool_call_id": "nope", "content": "x"}, "tool_call_id not found"),
    ({"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f"}}]}, "needs an id"),
    ({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "javascript:alert(1)"}}]}, "image_url"),
])
def test_bad_openai_messages(message, fragment):
    with pytest.raises(TranslationError, match=fragment):
        openai_to_gemini.request({"model": "m", "messages": [{"role": "user", "content": "hi"}, message]})


def test_reasoning_effort_and_json_mode():
    out = openai_to_gemini.request({"model": "m", "messages": [{"role": "user", "content": "x"}],
                                    "reasoning_effort": "low",
                                    "response_format": {"type": "json_schema", "json_schema": {
                                        "name": "r", "schema": {"type": "object", "additionalProperties": False,
                                                                "properties": {"a": {"type": "integer"}}}}}})
    assert out["generationConfig"] == {"thinkingConfig": {"thinkingBudget": 1024},
                                       "responseMimeType": "application/json",
                                       "responseSchema": {"type": "object", "properties": {"a": {"type": "integer"}}}}


GEMINI_RESPONSE = {
    "candidates": [{"content": {"role": "model", "parts": [
        {"text": "Thinking about it", "thought": True},
        {"text": "It is sunny."},
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]},
        "finishReason": "STOP", "index": 0, "safetyRatings": []}],
    "usageMetadata": {"promptTokenCount": 120, "candidatesTokenCount": 30, "totalTokenCount": 170,
                      "cachedContentTokenCount": 100, "thoughtsTokenCount": 20},
    "modelVersion": "gemini-2.5-flash", "responseId": "abc123",
}


def test_gemini_response_to_chat_completion():
    out = gemini_to_openai.response(GEMINI_RESPONSE, "gemini-2.5-flash")
    assert out["id"] == "chatcmpl-abc123"
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "It is sunny."
    assert choice["message"]["reasoning_content"] == "Thinking about it"
    call = choice["message"]["tool_calls"][0]
    assert call["id"].startswith("call_") and call["function"] == {"name": "get_weather",
                                                                  "arguments": '{"city":"Paris"}'}
    assert out["usage"]["prompt_tokens"] == 120 and out["usage"]["completion_tokens"] == 50
    assert out["usage"]["prompt_tokens_details"]["cached_tokens"] == 100
    assert out["usage"]["completion_tokens_details"]["reasoning_tokens"] == 20


def test_gemini_usage_and_back():
    usage = gemini_to_openai.usage(GEMINI_RESPONSE["usageMetadata"])
    assert usage == Usage(prompt_tokens=120, completion_tokens=50, cached_tokens=100, reasoning_tokens=20)
    assert openai_to_gemini.usage_metadata(usage) == GEMINI_RESPONSE["usageMetadata"]
    assert gemini_to_openai.usage({"prompt_token_count": 5, "candidates_token_count": 2}) == Usage(5, 2)


@pytest.mark.parametrize("reason,finish", [("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"),
                                           ("RECITATION", "content_filter"), ("OTHER", "stop")])
def test_finish_reasons(reason, finish):
    assert gemini_to_openai.finish_reason(reason) == finish


def test_blocked_prompt_is_content_filter():
    out = gemini_to_openai.response({"promptFeedback": {"blockReason": "SAFETY"},
                                     "usageMetadata": {"promptTokenCount": 8}}, "m")
    assert out["choices"][0]["finish_reason"] == "content_filter"
    assert out["usage"]["prompt_tokens"] == 8


# -- Gemini request -> OpenAI request (Gemini clients on other channels) --------------------------------------
def test_gemini_request_to_openai_accepts_both_spellings():
    out = gemini_to_openai.request({
        "system_instruction": {"parts": [{"text": "Be brief."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Look:"}, {"inline_data": {"mime_type": "image/png", "data": PNG}}]},
            {"role": "model", "parts": [{"functionCall": {"name": "lookup", "args": {"q": "cats"}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "lookup", "response": {"n": 3}}}]},
            {"parts": [{"text": "and?"}]}],
        "tools": [{"functionDeclarations": [{"name": "lookup", "description": "Search",
                                             "parameters": {"type": "OBJECT",
                                                            "properties": {"q": {"type": "STRING"}}}}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
        "generationConfig": {"temperature": 0.1, "maxOutputTokens": 64, "stopSequences": ["x"],
                             "responseMimeType": "application/json"}}, "gemini-2.5-pro")
    assert out["model"] == "gemini-2.5-pro"
    assert out["messages"][0] == {"role": "system", "content": "Be brief."}
    assert out["messages"][1]["content"][1] == {"type": "image_url",
                                                "image_url": {"url": f"data:image/png;base64,{PNG}"}}
    call_id = out["messages"][2]["tool_calls"][0]["id"]
    assert out["messages"][3] == {"role": "tool", "tool_call_id": call_id, "content": '{"n":3}'}
    assert out["messages"][4] == {"role": "user", "content": "and?"}
    assert out["tools"][0]["function"]["parameters"] == {"type": "object", "properties": {"q": {"type": "string"}}}
    assert out["tool_choice"] == "required"
    assert (out["temperature"], out["max_tokens"], out["stop"]) == (0.1, 64, ["x"])
    assert out["response_format"] == {"type": "json_object"}


@pytest.mark.parametrize("contents,fragment", [
    ([{"role": "assistant", "parts": [{"text": "x"}]}], "role"),
    ([{"role": "user"}], "parts"),
    ([{"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]}], "no earlier functionCall"),
    ([{"role": "user", "parts": [{"executableCode": {}}]}], "unsupported part"),
    ([], "non-empty"),
])
def test_bad_gemini_requests(contents, fragment):
    with pytest.raises(TranslationError, match=fragment):
        gemini_to_openai.request({"contents": contents}, "m")


def test_chat_completion_to_gemini_response():
    out = openai_to_gemini.response({"id": "chatcmpl-1", "choices": [
        {"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": "Hel"}}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}}, "gpt-4o")
    assert out == {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]},
                                   "finishReason": "MAX_TOKENS", "index": 0}],
                   "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 3, "totalTokenCount": 10},
                   "modelVersion": "gpt-4o", "responseId": "chatcmpl-1"}


def test_embeddings_both_ways():
    body = openai_to_gemini.embed_request({"model": "text-embedding-004", "input": ["a", "b"], "dimensions": 8},
                                          "text-embedding-004")
    assert body == {"requests": [
        {"model": "models/text-embedding-004", "content": {"parts": [{"text": "a"}]}, "outputDimensionality": 8},
        {"model": "models/text-embedding-004", "content": {"parts": [{"text": "b"}]}, "outputDimensionality": 8}]}
    out = gemini_to_openai.embed_response({"embeddings": [{"values": [0.1, 0.2]}, {"values": [0.3, 0.4]}]},
                                          "text-embedding-004", 2)
    assert out["data"][1] == {"object": "embedding", "index": 1, "embedding": [0.3, 0.4]}
    assert out["usage"] == {"prompt_tokens": 2, "total_tokens": 2}
    with pytest.raises(TranslationError):
        openai_to_gemini.embed_request({"input": [[1, 2, 3]]}, "m")


def test_gemini_embed_requests_to_openai_and_vectors_back():
    batch = {"requests": [
        {"model": "models/e", "content": {"parts": [{"text": "first"}, {"text": "part"}]}, "outputDimensionality": 4},
        {"model": "models/e", "content": {"parts": [{"text": "second"}]}, "output_dimensionality": 4}]}
    assert gemini_to_openai.embed_request(batch, "e") == {"model": "e", "input": ["first part", "second"],
                                                          "dimensions": 4}
    assert gemini_to_openai.embed_request({"content": {"parts": [{"text": "x"}]}}, "e") == {"model": "e",
                                                                                             "input": ["x"]}
    with pytest.raises(TranslationError, match="same outputDimensionality"):
        gemini_to_openai.embed_request({"requests": [{**batch["requests"][0], "outputDimensionality": 8},
                                                     batch["requests"][1]]}, "e")
    with pytest.raises(TranslationError, match="only text parts"):
        gemini_to_openai.embed_request({"content": {"parts": [{"fileData": {"fileUri": "gs://x"}}]}}, "e")

    answer = {"data": [{"index": 1, "embedding": [0.3]}, {"index": 0, "embedding": [0.1]}]}
    assert openai_to_gemini.embed_response(answer, 2, batch=True) == {"embeddings": [{"values": [0.1]},
                                                                                     {"values": [0.3]}]}
    assert openai_to_gemini.embed_response({"data": [{"embedding": [0.5]}]}, 1, batch=False) == {
        "embedding": {"values": [0.5]}}
    assert openai_to_gemini.embed_response(answer, 3, batch=True) is None  # a vector missing
    assert openai_to_gemini.embed_response({"data": [{"embedding": "AAAA"}]}, 1, batch=False) is None  # base64
