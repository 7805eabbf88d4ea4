"""Offline token counting: cache seeding without network, exact ids, cookbook-verified counts."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import tiktoken.registry

from app.relay import tokenizer

ROOT = Path(tokenizer.__file__).resolve().parents[2]

# The cookbook's examples, with the prompt_tokens the OpenAI API reported for them
# (https://github.com/openai/openai-cookbook/blob/main/examples/How_to_count_tokens_with_tiktoken.ipynb).
JARGON_MESSAGES = [
    {"role": "system", "content": "You are a helpful, pattern-following assistant that translates "
                                  "corporate jargon into plain English."},
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant",
     "content": "Things working well together will increase revenue."},
    {"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth "
                                                          "to touch base on opportunities for increased leverage."},
    {"role": "system", "name": "example_assistant",
     "content": "Let's talk later when we're less busy about how to do better."},
    {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client "
                                "deliverable."},
]
WEATHER_TOOLS = [{"type": "function", "function": {
    "name": "get_current_weather",
    "description": "Get the current weather in a given location",
    "parameters": {"type": "object", "required": ["location"], "properties": {
        "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
        "unit": {"type": "string", "description": "The unit of temperature to return",
                 "enum": ["celsius", "fahrenheit"]},
    }},
}}]
WEATHER_MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]


def _refuse(*args, **kwargs):
    raise OSError("network disabled in this test")


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network, no encodings loaded yet, and an empty TIKTOKEN_CACHE_DIR."""
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse)
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    monkeypatch.setattr(tokenizer, "_encodings", {})
    monkeypatch.setattr(tokenizer, "_seeded_dirs", set())
    monkeypatch.setattr(tokenizer, "_failed_at", 0.0)
    cache = tmp_path / "tiktoken"
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    return cache


def test_seed_writes_files_under_tiktoken_names_and_works_offline(offline):
    assert tokenizer.seed_tiktoken_cache(str(offline)) == str(offline)
    assert os.environ["TIKTOKEN_CACHE_DIR"] == str(offline)
    for name, sha in (("cl100k_base", "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"),
                      ("o200k_base", "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d")):
        url = f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
        path = offline / hashlib.sha1(url.encode()).hexdigest()
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
    assert sorted(p.name for p in offline.iterdir()) == sorted(
        tokenizer.cache_file_name(n) for n in ("cl100k_base", "o200k_base"))  # no temp files left

    assert tokenizer.get_encoding("cl100k_base").encode_ordinary("hello world") == [15339, 1917]
    assert tokenizer.get_encoding("o200k_base").encode_ordinary("hello world") == [24912, 2375]
    # plain tiktoken works too once seeded
    assert tiktoken.encoding_for_model("gpt-4o").encode("hello world") == [24912, 2375]


def test_seed_is_idempotent_and_repairs_a_corrupt_file(offline):
    tokenizer.seed_tiktoken_cache(str(offline))
    good = offline / tokenizer.cache_file_name("cl100k_base")
    mtime = good.stat().st_mtime_ns
    tokenizer._seeded_dirs.clear()
    tokenizer.seed_tiktoken_cache(str(offline))
    assert good.stat().st_mtime_ns == mtime

    good.write_bytes(b"truncated")
    tokenizer._seeded_dirs.clear()
    tokenizer.seed_tiktoken_cache(str(offline))
    assert tokenizer.get_encoding("cl100k_base").encode_ordinary("hello world") == [15339, 1917]


def test_count_tokens_seeds_lazily_without_explicit_call(offline):
    assert tokenizer.count_tokens("hello world", "gpt-4o") == 2
    assert (offline / tokenizer.cache_file_name("o200k_base")).exists()


def test_fresh_interpreter_counts_offline_with_default_temp_cache(tmp_path):
    script = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('network disabled')\n"
        "socket.socket.connect = refuse\n"
        "from app.relay.tokenizer import count_tokens, get_encoding\n"
        "print(get_encoding('cl100k_base').encode_ordinary('hello world'),"
        " get_encoding('o200k_base').encode_ordinary('hello world'), count_tokens('hello world', 'gpt-5'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR")}
    env.update(TMPDIR=str(tmp_path), PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[15339, 1917] [24912, 2375] 2"
    assert (tmp_path / "sluice-tiktoken" / tokenizer.cache_file_name("cl100k_base")).exists()


@pytest.mark.parametrize(("model", "encoding"), [
    ("gpt-4o", "o200k_base"), ("gpt-4o-mini-2024-07-18", "o200k_base"), ("chatgpt-4o-latest", "o200k_base"),
    ("gpt-4.1-nano", "o200k_base"), ("gpt-5", "o200k_base"), ("gpt-5-mini", "o200k_base"),
    ("o1", "o200k_base"), ("o3-mini", "o200k_base"), ("o4-mini", "o200k_base"),
    ("ft:gpt-4o-mini:acme::abc123", "o200k_base"), ("openai/gpt-4o", "o200k_base"), ("GPT-4O", "o200k_base"),
    ("gpt-4", "cl100k_base"), ("gpt-4-turbo", "cl100k_base"), ("gpt-3.5-turbo", "cl100k_base"),
    ("text-embedding-3-small", "cl100k_base"), ("claude-3-5-sonnet", "cl100k_base"),
    ("unknown-model", "cl100k_base"), ("", "cl100k_base"), ("o1x", "cl100k_base"),
])
def test_encoding_for_model(model, encoding):
    assert tokenizer.encoding_name_for_model(model) == encoding


def test_count_tokens_exact():
    assert tokenizer.count_tokens("hello world", "gpt-4") == 2
    assert tokenizer.count_tokens("hello world", "gpt-4o") == 2
    # special-token text is counted as ordinary text instead of raising
    assert tokenizer.count_tokens("<|endoftext|>", "gpt-4") > 1


@pytest.mark.parametrize("text", [
    "lone \ud800 surrogate", "\udfff", "\x00\x01", "emoji 🤖" * 50, b"\xff\xfe bytes", None, 42,
    {"a": [1, 2]}, "",
])
def test_count_tokens_never_raises_on_odd_input(text):
    n = tokenizer.count_tokens(text, "gpt-4o")
    assert isinstance(n, int) and n >= 0
    assert tokenizer.count_tokens(text, None) >= 0


def test_count_tokens_falls_back_when_encodings_cannot_load(monkeypatch):
    def broken(name):
        raise RuntimeError("no vocab")

    monkeypatch.setattr(tokenizer, "_encodings", {})
    monkeypatch.setattr(tokenizer, "_failed_at", 0.0)
    monkeypatch.setattr(tokenizer, "get_encoding", broken)
    assert tokenizer.count_tokens("12345678", "gpt-4o") == 2  # about 4 bytes per token
    assert tokenizer.count_chat_prompt_tokens([{"role": "user", "content": "hi"}], "gpt-4o") > 0


def test_count_tokens_is_fast():
    import time

    text = "The quick brown fox jumps over the lazy dog. " * 2000
    tokenizer.count_tokens("warm up", "gpt-4o")
    start = time.perf_counter()
    for _ in range(20):
        tokenizer.count_tokens(text, "gpt-4o")
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize(("model", "expected"), [
    ("gpt-3.5-turbo", 129), ("gpt-4", 129), ("gpt-4o", 124), ("gpt-4o-mini", 124),
])
def test_chat_prompt_matches_cookbook_api_counts(model, expected):
    assert tokenizer.count_chat_prompt_tokens(JARGON_MESSAGES, model) == expected


@pytest.mark.parametrize(("model", "expected"), [
    ("gpt-3.5-turbo", 105), ("gpt-4", 105), ("gpt-4o", 101), ("gpt-4o-mini", 101),
])
def test_chat_prompt_with_tools_matches_cookbook_api_counts(model, expected):
    assert tokenizer.count_chat_prompt_tokens(WEATHER_MESSAGES, model, tools=WEATHER_TOOLS) == expected


def test_chat_prompt_parts_names_and_tool_calls():
    model = "gpt-4o"
    text_only = tokenizer.count_chat_prompt_tokens([{"role": "user", "content": "hello world"}], model)
    assert text_only == 3 + 1 + 2 + 3  # framing + "user" + "hello world" + reply priming

    as_parts = [{"role": "user", "content": [{"type": "text", "text": "hello world"}]}]
    assert tokenizer.count_chat_prompt_tokens(as_parts, model) == text_only

    named = [{"role": "user", "name": "bob", "content": "hello world"}]
    assert tokenizer.count_chat_prompt_tokens(named, model) == text_only + 1 + 1  # "bob" + name overhead

    low = [{"role": "user", "content": [{"type": "text", "text": "hello world"},
                                        {"type": "image_url", "image_url": {"url": "https://x/y.png",
                                                                            "detail": "low"}}]}]
    assert tokenizer.count_chat_prompt_tokens(low, model) == text_only + 85
    high = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]}]
    assert tokenizer.count_chat_prompt_tokens(high, model) == 3 + 1 + 765 + 3

    call = [{"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]
    n = tokenizer.count_chat_prompt_tokens(call, model)
    assert n > 2 * 3 + 3 + tokenizer.count_tokens('{"city":"Paris"}', model)

    legacy_functions = [WEATHER_TOOLS[0]["function"]]
    assert tokenizer.count_tools_tokens(legacy_functions, model) == tokenizer.count_tools_tokens(
        WEATHER_TOOLS, model)


@pytest.mark.parametrize("messages", [None, "hi", [None, 3, "x"], [{"content": {"odd": True}}],
                                      [{"role": "user", "content": [None, 1, {"type": "mystery"}]}]])
def test_chat_prompt_never_raises_on_odd_messages(messages):
    assert tokenizer.count_chat_prompt_tokens(messages, "gpt-4o", tools=[None, {"function": "x"}]) >= 0
