"""The mock upstream speaks OpenAI's wire format: checked with the real openai SDK and raw HTTP."""

from __future__ import annotations

import base64
import json
import struct
import threading
import time

import openai
import pytest
import requests

from . import Behaviour, MockUpstream, overrides_from_model
from .openai_video import MP4_BYTES

KEY = "sk-test-0123456789abcdef"
MESSAGES = [{"role": "user", "content": "Say hello"}]
CONTENT = "Hello! This is the mock upstream speaking."


@pytest.fixture
def upstream():
    with MockUpstream() as server:
        yield server


@pytest.fixture
def client(upstream):
    return openai.OpenAI(base_url=upstream.base_url, api_key=KEY, max_retries=0, timeout=10)


def post(upstream, path, body, key=KEY, **kwargs):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return requests.post(upstream.base_url + path, json=body, headers=headers, timeout=10, **kwargs)


def chat(model="gpt-4o-mini", **extra):
    return {"model": model, "messages": MESSAGES, **extra}


def events(raw: bytes) -> list:
    """Split an SSE body into decoded events, asserting OpenAI's exact framing."""
    assert raw.endswith(b"\n\n")
    out = []
    for block in raw[:-2].split(b"\n\n"):
        assert block.startswith(b"data: ") and b"\n" not in block, block
        data = block[len(b"data: "):]
        out.append(data.decode() if data == b"[DONE]" else json.loads(data))
    return out


def read_until_broken(resp) -> tuple[list[bytes], Exception | None]:
    lines = []
    try:
        for line in resp.iter_lines():
            if line:
                lines.append(line)
    except requests.RequestException as exc:
        return lines, exc
    return lines, None


# -- chat completions -----------------------------------------------------------------------------
def test_chat_completion_plain_json(client, upstream):
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES, user="u1")
    done = raw.parse()
    assert raw.headers["content-type"] == "application/json"
    assert raw.headers["x-request-id"].startswith("req_")
    assert done.object == "chat.completion" and done.id.startswith("chatcmpl-")
    assert done.model == "gpt-4o-mini" and abs(done.created - time.time()) < 60
    assert done.choices[0].message.role == "assistant"
    assert done.choices[0].message.content == CONTENT
    assert done.choices[0].finish_reason == "stop"
    assert (done.usage.prompt_tokens, done.usage.completion_tokens, done.usage.total_tokens) == (10, 7, 17)
    assert done.usage.prompt_tokens_details.cached_tokens == 0

    rec = upstream.last_request
    assert (rec.method, rec.path, rec.api_key) == ("POST", "/v1/chat/completions", KEY)
    assert rec.header("Authorization") == f"Bearer {KEY}"
    assert rec.json["messages"] == MESSAGES and rec.json["user"] == "u1"
    assert rec.model == "gpt-4o-mini" and rec.status == 200
    assert rec.finished.wait(2) and not rec.aborted


def test_chat_completion_configurable_text_and_usage(client, upstream):
    upstream.set_behaviour(content="Bonjour tout le monde", prompt_tokens=42, completion_tokens=9,
                           cached_tokens=30, response_model="gpt-4o-mini-2024-07-18")
    done = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert done.choices[0].message.content == "Bonjour tout le monde"
    assert done.model == "gpt-4o-mini-2024-07-18"
    assert (done.usage.prompt_tokens, done.usage.completion_tokens, done.usage.total_tokens) == (42, 9, 51)
    assert done.usage.prompt_tokens_details.cached_tokens == 30
    # model names carry the same knobs
    done = client.chat.completions.create(model="mock-prompt-5-completion-3-cached-2", messages=MESSAGES)
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (5, 3)
    assert done.usage.prompt_tokens_details.cached_tokens == 2


def test_chat_stream_with_include_usage_via_sdk(client):
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == CONTENT
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finish) == 1 and finish[0].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 17
    assert all(c.usage is None for c in chunks[:-1])
    assert len({c.id for c in chunks}) == 1 and all(c.object == "chat.completion.chunk" for c in chunks)


def test_chat_stream_exact_wire_format(upstream):
    resp = post(upstream, "/chat/completions", chat(stream=True, stream_options={"include_usage": True}))
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert resp.headers["transfer-encoding"] == "chunked"
    evs = events(resp.content)
    assert evs[-1] == "[DONE]"
    first, *content, finish, usage = evs[:-1]
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert all(set(c["choices"][0]["delta"]) == {"content"} for c in content)
    assert len(content) == 7
    assert finish["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert all("usage" in e and e["usage"] is None for e in [first, *content, finish])
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 7


def test_stream_without_include_usage_sends_no_usage(upstream):
    evs = events(post(upstream, "/chat/completions", chat(stream=True)).content)
    assert evs[-1] == "[DONE]"
    assert all("usage" not in e for e in evs[:-1])
    assert evs[-2]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize("how", ["model", "behaviour"])
def test_no_usage_variant_ignores_include_usage(client, upstream, how):
    model = "mock-nousage" if how == "model" else "gpt-4o"
    if how == "behaviour":
        upstream.set_behaviour(send_usage=False)
    chunks = list(client.chat.completions.create(model=model, messages=MESSAGES, stream=True,
                                                 stream_options={"include_usage": True}))
    assert all(c.choices for c in chunks) and chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)
    assert client.chat.completions.create(model=model, messages=MESSAGES).usage is None


def test_chunk_count_and_content(upstream):
    upstream.set_behaviour(content="one two three four five six", chunks=3)
    evs = events(post(upstream, "/chat/completions", chat(stream=True)).content)
    assert [e["choices"][0]["delta"]["content"] for e in evs[1:4]] == ["one", " two", " three"]
    evs = events(post(upstream, "/chat/completions", chat("mock-n10", stream=True)).content)
    content = [e["choices"][0]["delta"].get("content") for e in evs[1:-2]]
    assert len(content) == 10 and all(content)
    assert post(upstream, "/chat/completions", chat("mock-n10")).json()["usage"]["completion_tokens"] == 10


def test_slow_stream_delivers_chunks_as_they_come(upstream):
    start = time.monotonic()
    resp = post(upstream, "/chat/completions", chat("mock-n5-delay-80", stream=True), stream=True)
    arrivals = [time.monotonic() - start for line in resp.iter_lines() if b'"content":"' in line]
    assert len(arrivals) == 6  # role chunk (content "") + 5
    assert arrivals[-1] >= 0.4
    assert arrivals[-1] - arrivals[1] >= 0.25  # spread out, not buffered


def test_slow_first_byte(upstream):
    start = time.monotonic()
    resp = post(upstream, "/chat/completions", chat("mock-firstbyte-300"), stream=True)
    assert time.monotonic() - start >= 0.3
    assert resp.status_code == 200
    with pytest.raises(requests.ReadTimeout):
        requests.post(upstream.base_url + "/chat/completions", json=chat("mock-firstbyte-2000"),
                      headers={"Authorization": f"Bearer {KEY}"}, timeout=0.3)


def test_tool_calls_plain_and_streamed(client):
    done = client.chat.completions.create(model="mock-tools", messages=MESSAGES)
    call = done.choices[0].message.tool_calls[0]
    assert done.choices[0].finish_reason == "tool_calls" and done.choices[0].message.content is None
    assert call.function.name == "get_weather" and json.loads(call.function.arguments)["location"]

    chunks = list(client.chat.completions.create(model="mock-tools", messages=MESSAGES, stream=True))
    deltas = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].id == call.id and deltas[0].function.name == "get_weather"
    assert "".join(d.function.arguments or "" for d in deltas) == call.function.arguments
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_request_validation_like_openai(upstream):
    resp = post(upstream, "/chat/completions", chat(stream_options={"include_usage": True}))
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "stream_options"
    resp = post(upstream, "/chat/completions", {"model": "gpt-4o"})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "missing_required_parameter"
    resp = post(upstream, "/chat/completions", {"messages": MESSAGES})
    assert resp.json()["error"]["message"] == "you must provide a model parameter"
    resp = requests.post(upstream.base_url + "/chat/completions", data=b"{not json",
                         headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    assert resp.status_code == 400 and "could not parse the JSON body" in resp.json()["error"]["message"]


# -- errors -----------------------------------------------------------------------------------------
ERROR_CASES = [
    (400, openai.BadRequestError, "invalid_request_error", None),
    (401, openai.AuthenticationError, "invalid_request_error", "invalid_api_key"),
    (403, openai.PermissionDeniedError, "request_forbidden", "unsupported_country_region_territory"),
    (404, openai.NotFoundError, "invalid_request_error", "model_not_found"),
    (429, openai.RateLimitError, "requests", "rate_limit_exceeded"),
    (500, openai.InternalServerError, "server_error", None),
    (502, openai.InternalServerError, "server_error", None),
    (503, openai.InternalServerError, "server_error", None),
]


@pytest.mark.parametrize(("status", "exc", "etype", "code"), ERROR_CASES)
@pytest.mark.parametrize("how", ["queued", "model"])
def test_errors_are_openai_error_json(client, upstream, status, exc, etype, code, how):
    model = f"mock-error-{status}" if how == "model" else "gpt-4o"
    if how == "queued":
        upstream.enqueue(Behaviour(status=status))
    with pytest.raises(exc) as info:
        client.chat.completions.create(model=model, messages=MESSAGES)
    err = info.value
    assert err.status_code == status
    assert set(err.body) == {"message", "type", "param", "code"}
    assert (err.body["type"], err.body["code"]) == (etype, code) and err.body["message"]
    assert err.response.headers["content-type"] == "application/json"
    assert ("retry-after" in err.response.headers) == (status in (429, 503))
    # the next request is back to normal
    assert client.chat.completions.create(model="gpt-4o", messages=MESSAGES).choices


def test_error_variants(upstream):
    resp = post(upstream, "/chat/completions", chat("mock-error-429-quota"))
    assert resp.status_code == 429
    assert resp.json()["error"]["type"] == resp.json()["error"]["code"] == "insufficient_quota"
    resp = post(upstream, "/chat/completions", chat("mock-error-502-html"))
    assert resp.status_code == 502 and resp.headers["content-type"].startswith("text/html")
    assert b"502 Bad Gateway" in resp.content
    upstream.enqueue(Behaviour(status=429, retry_after="7", error_message="slow down",
                               headers={"x-ratelimit-remaining-requests": "0"}))
    resp = post(upstream, "/chat/completions", chat())
    assert resp.headers["retry-after"] == "7" and resp.headers["x-ratelimit-remaining-requests"] == "0"
    assert resp.json()["error"]["message"] == "slow down"
    resp = post(upstream, "/nope", {})
    assert resp.status_code == 404 and resp.json()["error"]["message"] == "Invalid URL (POST /v1/nope)"


def test_cut_mid_stream_closes_connection_without_done(client, upstream):
    resp = post(upstream, "/chat/completions", chat("mock-cut-3", stream=True), stream=True)
    assert resp.status_code == 200
    lines, exc = read_until_broken(resp)
    assert isinstance(exc, requests.exceptions.ChunkedEncodingError)
    assert len(lines) == 4 and b"[DONE]" not in b"".join(lines)  # role chunk + 3 content chunks
    assert upstream.last_request.finished.wait(2) and upstream.last_request.aborted

    upstream.enqueue(Behaviour(cut_after=1))
    with pytest.raises(openai.APIConnectionError):
        list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))


def test_cut_after_more_chunks_than_sent_cuts_before_finish(upstream):
    upstream.set_behaviour(chunks=2, cut_after=50)
    lines, exc = read_until_broken(post(upstream, "/chat/completions", chat(stream=True), stream=True))
    assert exc is not None and len(lines) == 3 and b'"finish_reason":"stop"' not in b"".join(lines)


def test_extra_headers_on_any_response(upstream):
    upstream.set_behaviour(headers={"x-upstream-tag": "abc"})
    assert post(upstream, "/chat/completions", chat()).headers["x-upstream-tag"] == "abc"
    assert post(upstream, "/chat/completions", chat(stream=True)).headers["x-upstream-tag"] == "abc"
    assert post(upstream, "/chat/completions", chat("mock-error-500")).headers["x-upstream-tag"] == "abc"


def test_eof_mid_stream_ends_body_cleanly_without_done(upstream):
    resp = post(upstream, "/chat/completions", chat("mock-eof-2", stream=True), stream=True)
    lines, exc = read_until_broken(resp)
    assert exc is None and len(lines) == 3 and b"[DONE]" not in lines[-1]
    assert all(b'"finish_reason":null' in line for line in lines)


def test_error_event_inside_200_stream(client, upstream):
    evs = events(post(upstream, "/chat/completions", chat("mock-streamerror-2", stream=True)).content)
    assert len(evs) == 4 and "[DONE]" not in evs
    assert evs[-1] == {"error": {"message": "The server had an error while processing your request. "
                                            "Sorry about that!", "type": "server_error", "param": None,
                                 "code": None}}
    upstream.enqueue(Behaviour(stream_error_after=0, error_message="model overloaded"))
    with pytest.raises(openai.APIError, match="model overloaded"):
        list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))


def test_drop_connection(upstream):
    with pytest.raises(requests.ConnectionError):
        post(upstream, "/chat/completions", chat("mock-drop"))
    assert upstream.last_request.status is None and upstream.last_request.aborted


# -- keys, queue, recording -------------------------------------------------------------------------
def test_bad_keys_and_missing_key():
    with MockUpstream(bad_keys={"sk-bad-key-000000"}) as upstream:
        bad = post(upstream, "/chat/completions", chat(), key="sk-bad-key-000000")
        assert bad.status_code == 401 and bad.json()["error"]["code"] == "invalid_api_key"
        assert "sk-**********0000" in bad.json()["error"]["message"]
        assert post(upstream, "/chat/completions", chat(), key="sk-good").status_code == 200
        missing = post(upstream, "/chat/completions", chat(), key=None)
        assert missing.status_code == 401
        assert "didn't provide an API key" in missing.json()["error"]["message"]
        upstream.bad_keys.add("sk-good")
        assert post(upstream, "/chat/completions", chat(), key="sk-good").status_code == 401
        assert [r.api_key for r in upstream.requests] == ["sk-bad-key-000000", "sk-good", None, "sk-good"]
    with MockUpstream(require_auth=False) as open_upstream:
        assert post(open_upstream, "/chat/completions", chat(), key=None).status_code == 200


def test_key_behaviours(upstream):
    upstream.set_key_behaviour("sk-limited", status=429)
    assert post(upstream, "/chat/completions", chat(), key="sk-limited").status_code == 429
    assert post(upstream, "/chat/completions", chat(), key="sk-other").status_code == 200
    upstream.set_key_behaviour("sk-limited")
    assert post(upstream, "/chat/completions", chat(), key="sk-limited").status_code == 200


def test_queue_is_consumed_in_order_then_default(upstream):
    upstream.enqueue(Behaviour(status=500), {"status": 429}, Behaviour(content="third"))
    assert upstream.pending == 3
    assert post(upstream, "/chat/completions", chat()).status_code == 500
    assert post(upstream, "/chat/completions", chat()).status_code == 429
    assert post(upstream, "/chat/completions", chat()).json()["choices"][0]["message"]["content"] == "third"
    assert post(upstream, "/chat/completions", chat()).json()["choices"][0]["message"]["content"] == CONTENT
    assert [r.behaviour.status for r in upstream.requests] == [500, 429, 200, 200]

    upstream.set_behaviour(status=503)
    upstream.enqueue(Behaviour())
    upstream.reset()
    assert upstream.requests == [] and upstream.pending == 0
    assert post(upstream, "/chat/completions", chat()).status_code == 200


def test_concurrent_requests_are_all_recorded(upstream):
    barrier = threading.Barrier(16)

    def one(i):
        barrier.wait()
        assert post(upstream, "/chat/completions", chat(f"m-{i}")).status_code == 200

    threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.model for r in upstream.wait_for_requests(16)) == sorted(f"m-{i}" for i in range(16))


def test_stop_does_not_wait_for_slow_streams():
    upstream = MockUpstream().start()
    resp = post(upstream, "/chat/completions", chat("mock-n100-delay-500", stream=True), stream=True)
    next(resp.iter_lines())
    start = time.monotonic()
    upstream.stop()
    assert time.monotonic() - start < 2
    assert upstream.requests[-1].finished.wait(2) and upstream.requests[-1].aborted


def test_a_crashing_handler_answers_500_and_keeps_the_traceback(upstream):
    resp = post(upstream, "/images/generations", {"model": "dall-e-2", "prompt": "x", "n": "many"})
    assert resp.status_code == 500 and "handler failed" in resp.json()["error"]["message"]
    assert "ValueError" in upstream.last_request.handler_error


def test_model_name_grammar():
    assert overrides_from_model("gpt-4o-error-429") == {}
    assert overrides_from_model("mock-n40-d50") == {"chunks": 40, "chunk_delay": 0.05}
    assert overrides_from_model("mock-gpt-4o-cut-2-nousage") == {"cut_after": 2, "send_usage": False}
    assert overrides_from_model("mock-eof-1")["cut_mode"] == "eof"
    assert overrides_from_model("mock-quota") == {"error_type": "insufficient_quota",
                                                  "error_code": "insufficient_quota", "status": 429}


# -- legacy completions -----------------------------------------------------------------------------
def test_legacy_completions_plain_and_stream(client):
    done = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi")
    assert done.object == "text_completion" and done.choices[0].text == CONTENT
    assert done.usage.total_tokens == 17 and done.usage.prompt_tokens_details is None

    chunks = list(client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi", stream=True,
                                            stream_options={"include_usage": True}))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == CONTENT
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 7


# -- other endpoints --------------------------------------------------------------------------------
def test_embeddings_float_and_base64(client, upstream):
    sdk = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"], dimensions=8)
    assert upstream.last_request.json["encoding_format"] == "base64"  # what the SDK asks for
    assert [len(d.embedding) for d in sdk.data] == [8, 8] and sdk.usage.prompt_tokens == 10

    floats = post(upstream, "/embeddings", {"model": "text-embedding-3-small", "input": "a",
                                            "encoding_format": "float"}).json()
    assert floats["object"] == "list" and floats["data"][0]["object"] == "embedding"
    assert len(floats["data"][0]["embedding"]) == 1536 and floats["usage"]["total_tokens"] == 10
    b64 = post(upstream, "/embeddings", {"model": "text-embedding-3-small", "input": "a",
                                         "encoding_format": "base64"}).json()["data"][0]["embedding"]
    raw = base64.b64decode(b64)
    assert list(struct.unpack(f"<{len(raw) // 4}f", raw)) == floats["data"][0]["embedding"]
    assert sdk.data[0].embedding != sdk.data[1].embedding


def test_images_url_and_b64(client, upstream):
    img = client.images.generate(model="dall-e-3", prompt="a cat")
    assert img.data[0].url.startswith(upstream.origin) and img.data[0].revised_prompt
    assert requests.get(img.data[0].url, timeout=5).content.startswith(b"\x89PNG")
    img = client.images.generate(model="dall-e-2", prompt="a cat", n=2, response_format="b64_json")
    assert len(img.data) == 2 and base64.b64decode(img.data[0].b64_json).startswith(b"\x89PNG")
    img = client.images.generate(model="gpt-image-1", prompt="a cat")
    assert img.data[0].b64_json and img.usage.input_tokens == 10


def test_audio_speech_bytes(client, upstream):
    speech = client.audio.speech.create(model="tts-1", voice="alloy", input="Hello")
    assert speech.response.headers["content-type"] == "audio/mpeg"
    assert speech.content.startswith(b"ID3") and len(speech.content) > 1000
    assert upstream.last_request.json == {"model": "tts-1", "voice": "alloy", "input": "Hello"}


@pytest.mark.parametrize("fmt", ["json", "text", "verbose_json", "srt", "vtt"])
def test_audio_transcriptions(client, upstream, fmt):
    out = client.audio.transcriptions.create(model="whisper-1", file=("clip.mp3", b"ID3 fake", "audio/mpeg"),
                                             response_format=fmt)
    rec = upstream.last_request
    assert rec.header("content-type").startswith("multipart/form-data")
    assert rec.form["model"] == "whisper-1" and rec.files["file"].filename == "clip.mp3"
    assert rec.files["file"].data == b"ID3 fake" and rec.model == "whisper-1"
    if fmt == "json":
        assert out.text == CONTENT and out.usage.seconds == 3
    elif fmt == "verbose_json":
        assert out.task == "transcribe" and out.duration == 3.0 and out.segments[0].end == 3.0
    elif fmt == "text":
        assert out.strip() == CONTENT
    else:
        assert "00:00:03" in out and CONTENT in out


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK marks translations deprecated
def test_audio_translations(client):
    out = client.audio.translations.create(model="whisper-1", file=("clip.mp3", b"x", "audio/mpeg"))
    assert out.text == CONTENT
    verbose = client.audio.translations.create(model="whisper-1", file=("c.mp3", b"x", "audio/mpeg"),
                                               response_format="verbose_json")
    assert verbose.task == "translate"


def test_moderations(client):
    ok = client.moderations.create(model="omni-moderation-latest", input=["fine", "also fine"])
    assert len(ok.results) == 2 and not ok.results[0].flagged
    bad = client.moderations.create(model="mock-flagged", input="bad")
    assert bad.results[0].flagged and bad.results[0].categories.violence


def test_models_list_and_retrieve(client, upstream):
    ids = [m.id for m in client.models.list()]
    assert "gpt-4o-mini" in ids and "whisper-1" in ids
    assert client.models.retrieve("gpt-4o").object == "model"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-9")
    upstream.set_behaviour(models=("only-this",))
    assert [m.id for m in client.models.list()] == ["only-this"]


@pytest.mark.parametrize("prefix", ["", "/v1"])
def test_legacy_billing_endpoints(upstream, prefix):
    upstream.set_behaviour(hard_limit_usd=50.0, used_usd=20.25)
    headers = {"Authorization": f"Bearer {KEY}"}
    sub = requests.get(upstream.url(f"{prefix}/dashboard/billing/subscription"), headers=headers).json()
    assert sub["hard_limit_usd"] == 50.0 and sub["object"] == "billing_subscription"
    usage = requests.get(upstream.url(f"{prefix}/dashboard/billing/usage"), headers=headers,
                         params={"start_date": "2024-01-01", "end_date": "2024-02-01"}).json()
    assert usage["total_usage"] == 2025.0  # cents
    grants = requests.get(upstream.url(f"{prefix}/dashboard/billing/credit_grants"), headers=headers).json()
    assert grants["total_available"] == 29.75 and grants["object"] == "credit_summary"
    assert upstream.last_request.query == {} and upstream.requests[1].query["start_date"] == "2024-01-01"


@pytest.mark.filterwarnings("ignore:The Sora API is scheduled:DeprecationWarning")
def test_videos_api_runs_a_job_through_the_sdk(client, upstream):
    job = client.videos.create(prompt="a red kite", model="sora-2", seconds="4", size="1280x720")
    assert (job.object, job.status, job.progress, job.seconds) == ("video", "queued", 0, "4")
    with pytest.raises(openai.NotFoundError):
        client.videos.download_content(job.id)
    assert client.videos.retrieve(job.id).status == "in_progress"
    done = client.videos.retrieve(job.id)
    assert done.status == "completed" and done.expires_at > done.completed_at
    video = client.videos.download_content(job.id)
    assert video.content == MP4_BYTES and video.response.headers["content-type"] == "video/mp4"
    assert [v.id for v in client.videos.list().data] == [job.id]
    assert client.videos.delete(job.id).deleted is True
    with pytest.raises(openai.BadRequestError) as bad:
        client.videos.create(prompt="x", seconds="5")  # type: ignore[arg-type]
    assert bad.value.param == "seconds"
    failed = client.videos.create(prompt="mock-fail")
    client.videos.retrieve(failed.id)
    ended = client.videos.retrieve(failed.id)
    assert ended.status == "failed" and ended.error.code == "moderation_blocked"
