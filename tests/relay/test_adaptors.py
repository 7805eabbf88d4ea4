"""Pure parts of the relay, without a network: SSE framing, the adaptor registry, URL building, request
bodies, usage and error parsing."""

from __future__ import annotations

import json

import pytest

from app.relay import sse
from app.relay.adaptors.base import failure_from_body, usage_from_openai
from app.relay.adaptors.openai import OpenAIAdaptor, OpenAIStream, join_url
from app.relay.adaptors.openai_compatible import PROVIDERS
from app.relay.adaptors.registry import ADAPTORS, get_adaptor
from app.relay.keys import ip_allowed, parse_authorization
from app.relay.request import parse_json_request
from app.relay.types import ChannelInfo, Mode, RelayContext


def channel(**fields) -> ChannelInfo:
    base = {"id": 1, "type": 1, "name": "c", "base_url": "", "keys": ("sk-up",), "key_status": {},
            "multi_key_mode": "random", "model_mapping": {}, "param_override": {}, "header_override": {},
            "settings": {}, "status_code_mapping": {}}
    return ChannelInfo(**{**base, **fields})


def context(body: dict, mode: str = Mode.CHAT, **fields) -> RelayContext:
    raw = json.dumps(body).encode()
    req = parse_json_request(mode, raw)
    ctx = RelayContext(mode=mode, origin_model=req.model, stream=req.stream, body=req.body, raw_body=raw,
                       client_wants_usage=req.client_wants_usage, channel=fields.pop("channel", channel()),
                       api_key="sk-up", upstream_model=req.model)
    for key, value in fields.items():
        setattr(ctx, key, value)
    return ctx


# -- SSE -------------------------------------------------------------------------------------------------
def test_decoder_handles_split_events_crlf_comments_and_a_missing_final_blank_line():
    decoder = sse.Decoder()
    assert decoder.feed(b'data: {"a"') == []
    events = decoder.feed(b': 1}\n\n: keep-alive\n\ndata: x\r')
    assert [e.data for e in events] == [b'{"a": 1}', None]
    assert events[1].frame() == b": keep-alive\n\n"
    events = decoder.feed(b"\n\r\nevent: ping\ndata: a\ndata: b\n\ndata: [DONE]")
    assert [(e.name, e.data) for e in events] == [(None, b"x"), (b"ping", b"a\nb")]
    assert [e.data for e in decoder.flush()] == [b"[DONE]"]


def test_decoder_refuses_an_endless_event():
    decoder = sse.Decoder()
    with pytest.raises(sse.EventTooLarge):
        decoder.feed(b"data: " + b"x" * (sse.MAX_EVENT_BYTES + 1))


def test_error_frame_is_openai_shaped():
    frame = sse.error_frame("boom", code="upstream_timeout")
    assert json.loads(frame[6:]) == {"error": {"message": "boom", "type": "upstream_error", "param": None,
                                               "code": "upstream_timeout"}}


# -- registry and URLs -----------------------------------------------------------------------------------
def test_every_known_channel_type_has_an_adaptor():
    for channel_type in [1] + [row.type for row in PROVIDERS]:
        adaptor = get_adaptor(channel_type)
        assert adaptor is not None, channel_type
        assert adaptor.modes, channel_type
    assert len({row.type for row in PROVIDERS}) == len(PROVIDERS)
    assert get_adaptor(9999) is None
    assert all(hasattr(a, "build_request") for a in ADAPTORS.values())


@pytest.mark.parametrize(
    ("channel_type", "base_url", "expected"),
    [
        (1, "", "https://api.openai.com/v1/chat/completions"),
        (1, "https://proxy.example/v1/", "https://proxy.example/v1/chat/completions"),
        (43, "", "https://api.deepseek.com/v1/chat/completions"),
        (20, "", "https://openrouter.ai/api/v1/chat/completions"),
        (27, "", "https://api.perplexity.ai/chat/completions"),
        (45, "", "https://ark.cn-beijing.volces.com/api/v3/chat/completions"),
        (26, "", "https://open.bigmodel.cn/api/paas/v4/chat/completions"),
        (29, "", "https://api.groq.com/openai/v1/chat/completions"),
        (8, "https://my.host", "https://my.host/v1/chat/completions"),
    ],
)
def test_request_urls(channel_type, base_url, expected):
    ctx = context({"model": "m", "messages": [{"role": "user", "content": "hi"}]},
                  channel=channel(type=channel_type, base_url=base_url))
    assert get_adaptor(channel_type).build_request(ctx).url == expected


def test_join_url():
    assert join_url("https://h", "/v1/models") == "https://h/v1/models"
    assert join_url("https://h/v1", "/v1/models") == "https://h/v1/models"
    assert join_url("https://h", "/v1/models", "") == "https://h/models"


# -- request bodies --------------------------------------------------------------------------------------
def test_unchanged_body_is_sent_as_the_client_wrote_it():
    raw_body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.5}
    ctx = context(raw_body)
    req = OpenAIAdaptor().build_request(ctx)
    assert req.data is ctx.raw_body
    assert req.headers["Authorization"] == "Bearer sk-up" and not req.stream


def test_stream_gets_include_usage_and_mapping_and_overrides():
    ctx = context({"model": "alias", "messages": [{"role": "user", "content": "hi"}], "stream": True,
                   "stream_options": {"foo": 1}},
                  channel=channel(param_override={"top_p": 0.2}, header_override={"X-A": "{api_key}"},
                                  organization="org-1"))
    ctx.upstream_model = "real"
    req = OpenAIAdaptor().build_request(ctx)
    body = json.loads(req.data)
    assert body["model"] == "real" and body["top_p"] == 0.2
    assert body["stream_options"] == {"foo": 1, "include_usage": True}
    assert req.stream and req.headers["X-A"] == "sk-up" and req.headers["OpenAI-Organization"] == "org-1"


def test_providers_without_stream_options_are_left_alone():
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    ctx = context(body, channel=channel(type=42))
    assert get_adaptor(42).build_request(ctx).data == ctx.raw_body
    ctx = context(body, channel=channel(type=43, settings={"stream_usage": False}))
    assert get_adaptor(43).build_request(ctx).data == ctx.raw_body


# -- answers ---------------------------------------------------------------------------------------------
def test_usage_variants():
    usage = usage_from_openai({"prompt_tokens": 100, "completion_tokens": 20,
                               "prompt_tokens_details": {"cached_tokens": 30},
                               "completion_tokens_details": {"reasoning_tokens": 5}})
    assert (usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens, usage.reasoning_tokens) == \
        (100, 20, 30, 5)
    deepseek = usage_from_openai({"prompt_tokens": 9, "completion_tokens": 1, "prompt_cache_hit_tokens": 4})
    assert deepseek.cached_tokens == 4
    assert usage_from_openai({"type": "duration", "seconds": 12}).audio_seconds == 12
    assert usage_from_openai({"input_tokens": 3, "output_tokens": 4}).total_tokens == 7
    assert usage_from_openai(None) is None and usage_from_openai({}) is None


def test_parse_response_passes_bytes_through_and_spots_errors_in_200s():
    ctx = context({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    content = b'{"choices":[{"message":{"content":"x"}}],"usage":{"prompt_tokens":1,"completion_tokens":2}}'
    parsed = OpenAIAdaptor().parse_response(ctx, 200, "application/json", content)
    assert parsed.body is content and parsed.usage.completion_tokens == 2
    failure = OpenAIAdaptor().parse_response(ctx, 200, "application/json", b'{"error":{"message":"nope"}}')
    assert failure.message == "nope" and failure.retryable


@pytest.mark.parametrize(
    ("status", "content", "message", "retryable"),
    [
        (400, b'{"error":{"message":"bad","type":"invalid_request_error","code":"x"}}', "bad", False),
        (429, b'{"error":"slow down"}', "slow down", True),
        (500, b'{"message":"oops"}', "oops", True),
        (502, b"<html>Bad gateway</html>", "upstream returned status 502", True),
        (404, b"no such thing", "upstream returned status 404: no such thing", False),
        (401, b"", "upstream returned status 401", True),
    ],
)
def test_failure_from_body(status, content, message, retryable):
    failure = failure_from_body(status, content)
    assert failure.message == message and failure.retryable is retryable


def test_stream_translator_strips_only_the_usage_chunk_we_added():
    ctx = context({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True})
    translator = OpenAIStream(ctx, strip_usage_chunk=True)
    chunk = b'{"choices":[{"delta":{"content":"Hi"},"finish_reason":null}],"usage":null}'
    final = b'{"choices":[{"delta":{},"finish_reason":"stop"}],"usage":null}'
    usage = b'{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}'
    out = [translator.translate(sse.parse_event(b"data: " + d)) for d in (chunk, final, usage, b"[DONE]")]
    assert out == [[b"data: " + chunk + b"\n\n"], [b"data: " + final + b"\n\n"], [], [sse.DONE]]
    assert translator.usage.prompt_tokens == 3 and translator.finished and translator.done
    assert translator.delivered_text() == "Hi"
    keep = OpenAIStream(ctx, strip_usage_chunk=False)
    assert keep.translate(sse.parse_event(b"data: " + usage)) == [b"data: " + usage + b"\n\n"]
    broken = OpenAIStream(ctx, strip_usage_chunk=False)
    assert broken.translate(sse.parse_event(b'data: {"error":{"message":"m","type":"server_error"}}')) == []
    assert broken.error["message"] == "m"


# -- key parsing -----------------------------------------------------------------------------------------
def test_parse_authorization():
    assert parse_authorization("Bearer sk-abc123") == ("sk-abc123", None)
    assert parse_authorization("bearer abc123") == ("sk-abc123", None)
    assert parse_authorization("Bearer sk-abc123-42") == ("sk-abc123", 42)
    for bad in ("", "Bearer ", "Bearer sk-abc-def", "Bearer sk-ab c", "Bearer sk-abc-1-2", "Bearer sk-Ω"):
        with pytest.raises(Exception) as info:
            parse_authorization(bad)
        assert info.value.status == 401


def test_ip_allowed():
    nets = (__import__("ipaddress").ip_network("10.0.0.0/8"),)
    assert ip_allowed(None, "1.2.3.4")
    assert ip_allowed(nets, "10.9.9.9") and ip_allowed(nets, "::ffff:10.1.1.1")
    assert not ip_allowed(nets, "11.0.0.1") and not ip_allowed(nets, "garbage") and not ip_allowed((), "10.0.0.1")


def test_long_streams_keep_text_not_json(monkeypatch):
    from app.relay.adaptors import openai as openai_adaptor

    monkeypatch.setattr(openai_adaptor, "RETAIN_BYTES", 500)
    ctx = context({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True})
    translator = OpenAIStream(ctx, strip_usage_chunk=True)
    for i in range(100):
        payload = json.dumps({"choices": [{"delta": {"content": f"w{i} "}, "finish_reason": None}]}).encode()
        translator.translate(sse.parse_event(b"data: " + payload))
    assert translator.payloads == [] and translator.retained > 500
    assert translator.delivered_text() == "".join(f"w{i} " for i in range(100))


def _chunks(with_usage_nulls: bool) -> list[bytes]:
    def event(obj) -> bytes:
        return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"
    extra = {"usage": None} if with_usage_nulls else {}
    role = event({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
                  **extra})
    words = [event({"choices": [{"index": 0, "delta": {"content": f"w{i} "}, "finish_reason": None}], **extra})
             for i in range(6)]
    finish = event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], **extra})
    usage = event({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11}})
    half = len(words[3]) // 2
    return [role + words[0], words[1], b": keep-alive\n\n", words[2] + words[3][:half], words[3][half:],
            words[4] + words[5], finish, usage, b"data: [DONE]\n\n"]


@pytest.mark.parametrize("strip", [True, False])
@pytest.mark.parametrize("usage_nulls", [True, False])
def test_stream_fast_path_forwards_the_same_bytes_and_finds_the_same_usage(strip, usage_nulls):
    """`pass_chunk` (whole chunks as they are) and `translate` (event by event) agree on everything."""
    from app.relay.streaming import OpenStream, _relay_rest

    ctx = context({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True})
    results = []
    for fast in (True, False):
        translator = OpenAIStream(ctx, strip_usage_chunk=strip)
        if not fast:
            translator.pass_chunk = None
        opened = OpenStream(None, None, iter(_chunks(usage_nulls)), sse.Decoder(), translator, [])
        out = b"".join(_relay_rest(opened))
        results.append((out, translator.usage, translator.finished, translator.done, translator.delivered_text()))
    assert results[0] == results[1]
    out, usage, finished, done, text = results[0]
    assert usage.prompt_tokens == 5 and usage.completion_tokens == 6 and finished and done
    assert text == "w0 w1 w2 w3 w4 w5 "
    assert (b'"usage":{' in out) is not strip and out.endswith(b"data: [DONE]\n\n")


def test_stream_fast_path_keeps_what_a_cut_stream_delivered(monkeypatch):
    from app.relay.adaptors import openai as openai_adaptor
    from app.relay.streaming import OpenStream, _relay_rest

    monkeypatch.setattr(openai_adaptor, "RETAIN_BYTES", 300)
    ctx = context({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True})
    translator = OpenAIStream(ctx, strip_usage_chunk=True)
    opened = OpenStream(None, None, iter(_chunks(False)[:6]), sse.Decoder(), translator, [])  # cut before finish
    out = b"".join(_relay_rest(opened))
    assert translator.texts is not None and translator.payloads == []
    assert translator.delivered_text() == "w0 w1 w2 w3 w4 w5 "
    assert translator.usage is None and not translator.finished and b"upstream_incomplete" in out


def test_stream_fast_path_is_off_for_subclasses_that_rewrite_events():
    class Rewriting(OpenAIStream):
        def translate(self, event):
            return [b"data: rewritten\n\n"]

    ctx = context({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True})
    assert Rewriting(ctx, strip_usage_chunk=False).pass_chunk is None
    assert OpenAIStream(ctx, strip_usage_chunk=False).pass_chunk is not None
