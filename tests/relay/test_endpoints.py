"""The other /v1 endpoints through the SDK: completions, embeddings, images, audio, moderations, models."""

from __future__ import annotations

import json

import openai
import pytest

from tests.mock_upstream import DEFAULT_CONTENT
from tests.relay.conftest import balances, consume_logs, set_options, wait_for_logs

MODELS = ("gpt-3.5-turbo-instruct", "text-embedding-3-small", "dall-e-3", "tts-1", "whisper-1",
          "omni-moderation-latest", "gpt-4o-mini", "gpt-image-1")


@pytest.fixture
def key(make_channel, make_token):
    make_channel(models=MODELS)
    set_options(PreConsumedQuota=0,
                ModelRatio={"gpt-3.5-turbo-instruct": 0.75, "text-embedding-3-small": 0.01, "tts-1": 7.5,
                            "whisper-1": 15, "omni-moderation-latest": 0, "gpt-4o-mini": 0.075},
                CompletionRatio={"gpt-3.5-turbo-instruct": 1.33},
                ModelPrice={"dall-e-3": 0.04, "gpt-image-1": 0.04})
    return make_token()


def test_legacy_completions_plain_and_stream(key, sdk, mock_upstream):
    client = sdk(key.key)
    answer = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hello")
    assert answer.choices[0].text == DEFAULT_CONTENT
    parts = list(client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hello", stream=True))
    assert "".join(p.choices[0].text for p in parts if p.choices) == DEFAULT_CONTENT
    logs = wait_for_logs(key.user_id, 2)
    assert [log["quota"] for log in logs] == [-(-(10 + 7 * 1.33) * 0.75 // 1)] * 2


def test_embeddings(key, sdk, mock_upstream):
    result = sdk(key.key).embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert len(result.data) == 2 and len(result.data[0].embedding) == 1536
    [log] = consume_logs(key.user_id)
    assert (log["prompt_tokens"], log["completion_tokens"], log["quota"]) == (10, 0, 1)


def test_images_are_priced_per_image(key, sdk, mock_upstream):
    result = sdk(key.key).images.generate(model="dall-e-3", prompt="a cat", n=1, size="1024x1792", quality="hd")
    assert result.data[0].url
    [log] = consume_logs(key.user_id)
    assert log["quota"] == 0.04 * 500000 * 2 * 2
    assert json.loads(log["other"])["model_price"] == 0.04
    sdk(key.key).images.generate(model="gpt-image-1", prompt="a cat", n=2)
    assert consume_logs(key.user_id)[-1]["quota"] == 0.04 * 500000 * 2


def test_speech_is_binary_passthrough(key, sdk, mock_upstream):
    text = "Hello there, general Kenobi."
    with sdk(key.key).audio.speech.with_streaming_response.create(model="tts-1", voice="alloy", input=text) as r:
        audio = r.read()
        assert r.headers["content-type"] == "audio/mpeg"
    assert audio.startswith(b"ID3")
    [log] = wait_for_logs(key.user_id, 1)
    assert log["prompt_tokens"] == len(text) and log["quota"] == -(-len(text) * 7.5 // 1)


def test_transcription_priced_by_duration(key, sdk, mock_upstream):
    mock_upstream.set_behaviour(audio_seconds=60)
    result = sdk(key.key).audio.transcriptions.create(model="whisper-1", file=("a.mp3", b"\xff" * 4000))
    assert result.text == DEFAULT_CONTENT
    sent = mock_upstream.last_request
    assert sent.form["model"] == "whisper-1" and sent.files["file"].data == b"\xff" * 4000
    [log] = consume_logs(key.user_id)
    assert log["quota"] == 3000  # 60 s at whisper's ratio 15 = $0.006
    assert json.loads(log["other"])["audio_seconds"] == 60


def test_transcription_text_format_is_estimated_from_size(key, sdk, mock_upstream):
    text = sdk(key.key).audio.transcriptions.create(model="whisper-1", file=("a.mp3", b"\xff" * 32000),
                                                    response_format="text")
    assert text.strip() == DEFAULT_CONTENT
    [log] = consume_logs(key.user_id)
    assert json.loads(log["other"])["audio_seconds"] == 2.0  # 32 KB at 16 KB/s
    assert log["quota"] == -(-2 * 10 / 3 // 1) * 15


def test_translation(key, sdk, mock_upstream):
    result = sdk(key.key).audio.translations.create(model="whisper-1", file=("a.mp3", b"\xff" * 16000))
    assert result.text == DEFAULT_CONTENT
    assert mock_upstream.last_request.path == "/v1/audio/translations"
    assert len(consume_logs(key.user_id)) == 1


def test_moderations_free(key, sdk, mock_upstream):
    result = sdk(key.key).moderations.create(input="I want to hug you")
    assert result.results[0].flagged is False
    assert mock_upstream.last_request.json["model"] == "omni-moderation-latest"
    [log] = consume_logs(key.user_id)
    assert log["quota"] == 0
    assert balances(key) == (10_000_000, 10_000_000)


def test_models_list_and_retrieve(make_channel, make_token, sdk):
    make_channel(models=("gpt-4o-mini", "gpt-4o"))
    make_channel(models=("deepseek-chat",), channel_type=43)
    make_channel(models=("secret-model",), group="vip")
    make_channel(models=("disabled-model",), status=2)
    key = make_token()
    client = sdk(key.key)
    listed = {m.id: m.owned_by for m in client.models.list()}
    assert listed == {"gpt-4o": "openai", "gpt-4o-mini": "openai", "deepseek-chat": "deepseek"}
    assert client.models.retrieve("gpt-4o").id == "gpt-4o"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("secret-model")
    limited = make_token(model_limits_enabled=True, model_limits="gpt-4o,secret-model")
    assert [m.id for m in sdk(limited.key).models.list()] == ["gpt-4o"]
    with pytest.raises(openai.AuthenticationError):
        sdk("sk-nope").models.list()
