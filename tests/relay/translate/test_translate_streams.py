"""Stream translators: Claude events <-> OpenAI chunks and Gemini stream responses <-> OpenAI chunks.

The Claude event sequences are the examples of https://docs.anthropic.com/en/docs/build-with-claude/streaming
(basic text, tool use with input_json_delta, an overloaded error mid-stream); the Gemini ones follow
https://ai.google.dev/api/generate-content#method:-models.streamgeneratecontent.
"""

from __future__ import annotations

import json

from app.relay.translate.claude_stream import ClaudeToOpenAI, OpenAIToClaude, event_frame
from app.relay.translate.gemini_stream import GeminiToOpenAI, OpenAIToGemini
from app.relay.types import Usage

TEXT_STREAM = [
    {"type": "message_start", "message": {"id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", "type": "message",
                                          "role": "assistant", "content": [], "model": "claude-opus-4-1",
                                          "stop_reason": None, "stop_sequence": None,
                                          "usage": {"input_tokens": 25, "output_tokens": 1,
                                                    "cache_read_input_tokens": 10,
                                                    "cache_creation_input_tokens": 5}}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "ping"},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "!"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
     "usage": {"output_tokens": 15}},
    {"type": "message_stop"},
]
TOOL_STREAM = [
    {"type": "message_start", "message": {"id": "msg_014p7gG3wDgGV9EUtLvnow3U", "type": "message",
                                          "role": "assistant", "model": "claude-opus-4-1", "stop_sequence": None,
                                          "usage": {"input_tokens": 472, "output_tokens": 2}, "content": [],
                                          "stop_reason": None}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Okay, let's check"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": {
        "type": "tool_use", "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "get_weather", "input": {}}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta",
                                                          "partial_json": "{\"location\":"}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta",
                                                          "partial_json": " \"San Francisco, CA\"}"}},
    {"type": "content_block_stop", "index": 1},
    {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
     "usage": {"output_tokens": 89}},
    {"type": "message_stop"},
]


def run_claude(events):
    t = ClaudeToOpenAI("claude-opus-4-1")
    chunks = [c for e in events for c in t.feed(e)]
    return t, chunks


def deltas(chunks):
    return [c["choices"][0]["delta"] for c in chunks if c["choices"]]


def test_claude_text_stream_to_openai_chunks():
    t, chunks = run_claude(TEXT_STREAM)
    assert deltas(chunks) == [{"role": "assistant", "content": ""}, {"content": "Hello"}, {"content": "!"}, {}]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
    assert t.done and t.error is None and t.finish_reason == "stop"
    assert t.usage == Usage(prompt_tokens=40, completion_tokens=15, cached_tokens=10, cache_creation_tokens=5)
    assert t.usage_chunk()["usage"]["prompt_tokens"] == 40 and t.usage_chunk()["choices"] == []
    assert "".join(t.delivered) == "Hello!"


def test_claude_tool_stream_to_openai_tool_call_chunks():
    t, chunks = run_claude(TOOL_STREAM)
    calls = [d["tool_calls"][0] for d in deltas(chunks) if "tool_calls" in d]
    assert calls[0] == {"index": 0, "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "type": "function",
                        "function": {"name": "get_weather", "arguments": ""}}
    assert "".join(c["function"]["arguments"] for c in calls[1:]) == '{"location": "San Francisco, CA"}'
    assert all(c["index"] == 0 for c in calls)
    assert t.finish_reason == "tool_calls" and t.usage.completion_tokens == 89 and t.usage.prompt_tokens == 472


def test_claude_error_event_mid_stream():
    events = TEXT_STREAM[:4] + [{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}]
    t, chunks = run_claude(events)
    assert t.error == {"type": "overloaded_error", "message": "Overloaded"}
    assert not t.done and t.finish_reason is None
    assert "".join(t.delivered) == "Hello"


def test_message_delta_may_carry_input_usage():
    t, _ = run_claude(TEXT_STREAM[:1] + [{"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                                          "usage": {"input_tokens": 30, "output_tokens": 4}}])
    assert t.usage == Usage(prompt_tokens=45, completion_tokens=4, cached_tokens=10, cache_creation_tokens=5)


def openai_chunk(delta, finish=None, usage=None, choices=True):
    chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
             "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if choices else []}
    if usage is not None:
        chunk["usage"] = usage
    return chunk


OPENAI_STREAM = [
    openai_chunk({"role": "assistant", "content": ""}),
    openai_chunk({"content": "Let me"}),
    openai_chunk({"content": " look."}),
    openai_chunk({"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                                  "function": {"name": "get_weather", "arguments": ""}}]}),
    openai_chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}),
    openai_chunk({"tool_calls": [{"index": 0, "function": {"arguments": "\"Oslo\"}"}}]}),
    openai_chunk({}, "tool_calls"),
    openai_chunk(None, usage={"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18,
                              "prompt_tokens_details": {"cached_tokens": 3}}, choices=False),
]


def test_openai_chunks_to_claude_events():
    t = OpenAIToClaude("gpt-4o", input_tokens=9)
    events = [e for c in OPENAI_STREAM for e in t.feed(c)] + t.finish()
    names = [name for name, _ in events]
    assert names == ["message_start", "content_block_start", "content_block_delta", "content_block_delta",
                     "content_block_stop", "content_block_start", "content_block_delta", "content_block_delta",
                     "content_block_stop", "message_delta", "message_stop"]
    assert events[0][1]["message"]["usage"]["input_tokens"] == 9
    assert events[5][1] == {"type": "content_block_start", "index": 1, "content_block": {
        "type": "tool_use", "id": "call_a", "name": "get_weather", "input": {}}}
    assert events[7][1]["delta"] == {"type": "input_json_delta", "partial_json": "\"Oslo\"}"}
    assert events[9][1] == {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                            "usage": {"input_tokens": 8, "cache_read_input_tokens": 3,
                                      "cache_creation_input_tokens": 0, "output_tokens": 7}}
    assert t.finish() == []  # idempotent
    frame = event_frame(*events[-1])
    assert frame == b'event: message_stop\ndata: {"type":"message_stop"}\n\n'


def test_round_trip_claude_to_openai_to_claude_keeps_text_and_tools():
    back = OpenAIToClaude("claude-opus-4-1")
    forward = ClaudeToOpenAI("claude-opus-4-1")
    out = [e for event in TOOL_STREAM for c in forward.feed(event) for e in back.feed(c)] + back.finish()
    text = "".join(d["delta"]["text"] for n, d in out
                   if n == "content_block_delta" and d["delta"]["type"] == "text_delta")
    args = "".join(d["delta"]["partial_json"] for n, d in out
                   if n == "content_block_delta" and d["delta"]["type"] == "input_json_delta")
    assert text == "Okay, let's check" and json.loads(args) == {"location": "San Francisco, CA"}
    assert out[-2][1]["delta"]["stop_reason"] == "tool_use"


GEMINI_STREAM = [
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "Once upon"}]}, "index": 0}],
     "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9}, "modelVersion": "gemini-2.5-flash",
     "responseId": "r1"},
    {"candidates": [{"content": {"role": "model", "parts": [{"text": " a time"}]}, "index": 0}],
     "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9}},
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "."}]}, "finishReason": "STOP", "index": 0}],
     "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 4, "thoughtsTokenCount": 6,
                       "totalTokenCount": 19}},
]


def test_gemini_stream_to_openai_chunks():
    t = GeminiToOpenAI("gemini-2.5-flash")
    chunks = [c for r in GEMINI_STREAM for c in t.feed(r)]
    assert deltas(chunks) == [{"role": "assistant", "content": ""}, {"content": "Once upon"}, {"content": " a time"},
                              {"content": "."}, {}]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[0]["id"] == "chatcmpl-r1"
    assert t.usage == Usage(prompt_tokens=9, completion_tokens=10, reasoning_tokens=6)


def test_gemini_function_call_stream_and_error():
    t = GeminiToOpenAI("m")
    chunks = t.feed({"candidates": [{"content": {"role": "model", "parts": [
        {"functionCall": {"name": "a", "args": {"x": 1}}}, {"functionCall": {"name": "b", "args": {}}}]},
        "finishReason": "STOP"}]})
    calls = deltas(chunks)[1]["tool_calls"]
    assert [(c["index"], c["function"]["name"]) for c in calls] == [(0, "a"), (1, "b")]
    assert t.finish_reason == "tool_calls"
    t.feed({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}})
    assert t.error["type"] == "UNAVAILABLE"


def test_openai_chunks_to_gemini_stream():
    t = OpenAIToGemini("gpt-4o")
    out = [r for c in OPENAI_STREAM for r in t.feed(c)] + t.end()
    assert [r["candidates"][0]["content"]["parts"] for r in out[:2]] == [[{"text": "Let me"}], [{"text": " look."}]]
    last = out[-1]
    assert last["candidates"][0]["finishReason"] == "STOP"
    assert last["candidates"][0]["content"]["parts"] == [
        {"functionCall": {"id": "call_a", "name": "get_weather", "args": {"city": "Oslo"}}}]
    assert last["usageMetadata"] == {"promptTokenCount": 11, "candidatesTokenCount": 7, "totalTokenCount": 18,
                                     "cachedContentTokenCount": 3}
    assert t.end() == []


def test_json_array_stream_wraps_any_gemini_translator():
    from app.relay import sse
    from app.relay.adaptors.gemini import GeminiNativeStream, JsonArrayStream
    from app.relay.types import Mode, RelayContext

    ctx = RelayContext(mode=Mode.GEMINI, origin_model="gemini-2.5-flash", stream=True, body={})
    stream = JsonArrayStream(GeminiNativeStream(ctx))
    first = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]}, "index": 0}]}
    last = {"candidates": [{"content": {"role": "model", "parts": [{"text": "!"}]}, "finishReason": "STOP",
                            "index": 0}], "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2}}
    out = []
    for event in sse.iter_events([sse.data_frame(first), b": keep-alive\n\n", sse.data_frame(last)]):
        out.extend(stream.translate(event))
    assert stream.finished and stream.usage.completion_tokens == 2 and not stream.done
    out.extend(stream.end())
    assert stream.done and json.loads(b"".join(out)) == [first, last]
    assert out[0].startswith(b"[{") and out[1].startswith(b"\n,{") and out[-1] == b"\n]"
    assert stream.end() == []  # closed once

    failing = JsonArrayStream(GeminiNativeStream(ctx))
    head = b"".join(failing.translate(next(sse.iter_events([sse.data_frame(first)]))))
    tail = failing.error_frames("upstream went away", code="upstream_broken")
    assert json.loads(head + tail)[1]["error"]["message"] == "upstream went away"
    assert JsonArrayStream(GeminiNativeStream(ctx)).error_frames("x").startswith(b"[{\"error\"")
