"""OpenAI chat <-> Claude Messages, both directions, with fixtures written from the public references:
https://docs.anthropic.com/en/api/messages and https://platform.openai.com/docs/api-reference/chat."""

from __future__ import annotations

import json

import pytest

from app.relay.translate import TranslationError, claude_to_openai, openai_to_claude
from app.relay.types import Usage

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather in a given location",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}


# -- OpenAI request -> Claude request ---------------------------------------------------------------------
def test_system_prompt_string_and_default_max_tokens():
    out = openai_to_claude.request({"model": "claude-sonnet-4-5", "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
        {"role": "user", "content": "Hello"}]})
    assert out == {"model": "claude-sonnet-4-5", "system": "You are terse.\n\nAnswer in French.",
                   "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 4096}


def test_system_with_cache_control_stays_a_list():
    out = openai_to_claude.request({"model": "m", "messages": [
        {"role": "system", "content": [{"type": "text", "text": "Long context",
                                        "cache_control": {"type": "ephemeral"}}]},
        {"role": "user", "content": "Hi"}]})
    assert out["system"] == [{"type": "text", "text": "Long context", "cache_control": {"type": "ephemeral"}}]


def test_max_tokens_and_sampling_parameters():
    out = openai_to_claude.request({"model": "m", "messages": [{"role": "user", "content": "Hi"}],
                                    "max_completion_tokens": 300, "temperature": 0.5, "top_p": 0.9,
                                    "stop": "END", "stream": True, "user": "u-1"}, default_max_tokens=1000)
    assert out["max_tokens"] == 300 and out["temperature"] == 0.5 and out["top_p"] == 0.9
    assert out["stop_sequences"] == ["END"] and out["stream"] is True
    assert out["metadata"] == {"user_id": "u-1"}
    assert "stream_options" not in out


def test_images_base64_and_url_never_fetched():
    out = openai_to_claude.request({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is in these images?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": "https://upload.wikimedia.org/cat.jpg", "detail": "high"}},
    ]}]})
    assert out["messages"][0]["content"] == [
        {"type": "text", "text": "What is in these images?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://upload.wikimedia.org/cat.jpg"}},
    ]


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://host/x.png", "data:image/bmp;base64,AAAA", ""])
def test_unusable_image_urls_are_refused(url):
    with pytest.raises(TranslationError):
        openai_to_claude.request({"model": "m", "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]})


def test_tools_tool_calls_and_tool_results_round_trip():
    body = {"model": "m", "tools": [WEATHER_TOOL], "tool_choice": "required", "parallel_tool_calls": False,
            "messages": [
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {"role": "assistant", "content": "Let me check.", "tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'}},
                    {"id": "call_2", "type": "function",
                     "function": {"name": "get_weather", "arguments": '{"location": "Rome"}'}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
                {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "24C"}]},
                {"role": "user", "content": "Thanks"}]}
    out = openai_to_claude.request(body)
    assert out["tools"] == [{"name": "get_weather", "description": "Get the current weather in a given location",
                             "input_schema": WEATHER_TOOL["function"]["parameters"]}]
    assert out["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert out["messages"][1] == {"role": "assistant", "content": [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"location": "Paris"}},
        {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"location": "Rome"}}]}
    # both results and the next user text merge into one user turn, results first
    assert out["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
        {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "24C"}]},
        {"type": "text", "text": "Thanks"}]}
    assert len(out["messages"]) == 3

    # and back: the Claude request becomes the same OpenAI conversation
    back = claude_to_openai.request(out)
    assert back["tools"] == [WEATHER_TOOL]
    assert back["tool_choice"] == "required" and back["parallel_tool_calls"] is False
    assert [m["role"] for m in back["messages"]] == ["user", "assistant", "tool", "tool", "user"]
    assert back["messages"][1]["tool_calls"][0]["function"] == {"name": "get_weather",
                                                               "arguments": '{"location":"Paris"}'}
    assert back["messages"][3] == {"role": "tool", "tool_call_id": "call_2", "content": "24C"}


@pytest.mark.parametrize("choice,expected", [
    ("auto", {"type": "auto"}), ("none", {"type": "none"}),
    ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
])
def test_tool_choice(choice, expected):
    out = openai_to_claude.request({"model": "m", "tools": [WEATHER_TOOL], "tool_choice": choice,
                                    "messages": [{"role": "user", "content": "x"}]})
    assert out["tool_choice"] == expected


@pytest.mark.parametrize("message,fragment", [
    ({"role": "wizard", "content": "x"}, "unknown role"),
    ({"role": "tool", "content": "18C"}, "tool_call_id"),
    ({"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{}"}}]},
     "needs an id"),
    ({"role": "assistant", "tool_calls": [{"id": "c", "type": "function",
                                           "function": {"name": "f", "arguments": "{not json"}}]}, "not valid JSON"),
    ({"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}]},
     "not supported"),
    ({"role": "user", "content": 42}, "content must be"),
])
def test_bad_openai_messages_are_client_errors(message, fragment):
    with pytest.raises(TranslationError, match=fragment) as info:
        openai_to_claude.request({"model": "m", "messages": [{"role": "user", "content": "hi"}, message]})
    assert info.value.status == 400


def test_reasoning_effort_enables_thinking_and_drops_sampling():
    out = openai_to_claude.request({"model": "m", "messages": [{"role": "user", "content": "x"}],
                                    "reasoning_effort": "medium", "temperature": 0.2, "max_tokens": 1000})
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert "temperature" not in out and out["max_tokens"] > 4096


# -- Claude response -> OpenAI response ---------------------------------------------------------------------
CLAUDE_MESSAGE = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
    "content": [{"type": "thinking", "thinking": "The user wants weather.", "signature": "EqQB"},
                {"type": "text", "text": "I'll check."},
                {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather",
                 "input": {"location": "San Francisco, CA"}}],
    "stop_reason": "tool_use", "stop_sequence": None,
    "usage": {"input_tokens": 2095, "output_tokens": 503, "cache_creation_input_tokens": 100,
              "cache_read_input_tokens": 1000},
}


def test_claude_message_to_chat_completion():
    out = claude_to_openai.response(CLAUDE_MESSAGE, "claude-sonnet-4-5")
    assert out["object"] == "chat.completion" and out["id"] == "chatcmpl-01XFDUDYJgAACzvnptvVoYEL"
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "I'll check."
    assert choice["message"]["reasoning_content"] == "The user wants weather."
    assert choice["message"]["tool_calls"] == [{"id": "toolu_01A09q90qw90lq917835lq9", "type": "function",
                                                "function": {"name": "get_weather",
                                                             "arguments": '{"location":"San Francisco, CA"}'}}]
    assert out["usage"]["prompt_tokens"] == 2095 + 100 + 1000
    assert out["usage"]["completion_tokens"] == 503
    assert out["usage"]["prompt_tokens_details"] == {"cached_tokens": 1000, "cached_creation_tokens": 100}


def test_claude_usage_counts_cache_reads_and_writes_as_prompt():
    usage = claude_to_openai.usage(CLAUDE_MESSAGE["usage"])
    assert usage == Usage(prompt_tokens=3195, completion_tokens=503, cached_tokens=1000, cache_creation_tokens=100)
    assert openai_to_claude.claude_usage(usage) == CLAUDE_MESSAGE["usage"] | {"input_tokens": 2095}


@pytest.mark.parametrize("stop,finish", [("end_turn", "stop"), ("max_tokens", "length"),
                                         ("tool_use", "tool_calls"), ("stop_sequence", "stop"),
                                         ("refusal", "content_filter")])
def test_stop_reasons(stop, finish):
    assert claude_to_openai.finish_reason(stop) == finish


@pytest.mark.parametrize("finish,stop", [("stop", "end_turn"), ("length", "max_tokens"),
                                         ("tool_calls", "tool_use"), ("content_filter", "refusal")])
def test_finish_reasons(finish, stop):
    assert openai_to_claude.stop_reason(finish) == stop


# -- Claude request -> OpenAI request ---------------------------------------------------------------------
def test_claude_request_to_openai():
    out = claude_to_openai.request({
        "model": "claude-sonnet-4-5", "max_tokens": 1024, "system": [{"type": "text", "text": "Be brief."}],
        "stop_sequences": ["###"], "temperature": 0.3, "top_k": 5, "stream": True,
        "metadata": {"user_id": "abc"},
        "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
            {"type": "text", "text": "Describe"}]},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "hmm", "signature": "s"},
                                              {"type": "text", "text": "A cat."}]},
            {"role": "user", "content": "Thanks"}]})
    assert out == {
        "model": "claude-sonnet-4-5", "max_tokens": 1024, "temperature": 0.3, "stream": True, "stop": ["###"],
        "user": "abc",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                {"type": "text", "text": "Describe"}]},
            {"role": "assistant", "content": "A cat."},
            {"role": "user", "content": "Thanks"}]}


@pytest.mark.parametrize("messages,fragment", [
    ([{"role": "system", "content": "x"}], "role"),
    ([{"role": "user"}], "content"),
    ([{"role": "user", "content": [{"type": "tool_result", "content": "x"}]}], "tool_use_id"),
    ([{"role": "assistant", "content": [{"type": "tool_use", "name": "f", "input": {}}]}], "needs an id"),
    ([{"role": "user", "content": [{"type": "video", "source": {}}]}], "not supported"),
    ([], "at least one"),
])
def test_bad_claude_requests(messages, fragment):
    with pytest.raises(TranslationError, match=fragment):
        claude_to_openai.request({"model": "m", "max_tokens": 10, "messages": messages})


def test_server_tools_are_refused_on_openai_channels():
    with pytest.raises(TranslationError, match="web_search"):
        claude_to_openai.request({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}],
                                  "tools": [{"type": "web_search_20250305", "name": "web_search"}]})


# -- OpenAI response -> Claude response ---------------------------------------------------------------------
def test_chat_completion_to_claude_message():
    completion = {"id": "chatcmpl-abc", "object": "chat.completion", "created": 1, "model": "gpt-4o",
                  "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                      "role": "assistant", "content": None, "tool_calls": [
                          {"id": "call_9", "type": "function",
                           "function": {"name": "get_weather", "arguments": '{"location":"Oslo"}'}}]}}],
                  "usage": {"prompt_tokens": 50, "completion_tokens": 9, "total_tokens": 59,
                            "prompt_tokens_details": {"cached_tokens": 20}}}
    out = openai_to_claude.response(completion, "gpt-4o")
    assert out["type"] == "message" and out["id"].startswith("msg_") and out["model"] == "gpt-4o"
    assert out["content"] == [{"type": "tool_use", "id": "call_9", "name": "get_weather",
                               "input": {"location": "Oslo"}}]
    assert out["stop_reason"] == "tool_use"
    assert out["usage"] == {"input_tokens": 30, "cache_read_input_tokens": 20, "cache_creation_input_tokens": 0,
                            "output_tokens": 9}
    json.dumps(out)
