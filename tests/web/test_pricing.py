"""The public pricing page: every served model with its price per 1M tokens (or per call)."""

from __future__ import annotations

from app.services import channels
from tests.web.conftest import fragment, full


def test_pricing_lists_served_models_per_million_tokens(client):
    channels.create_channels({"mode": "single", "channel": {
        "name": "c", "key": "sk-x", "models": "gpt-4o-mini,dall-e-3", "group": "default"}})
    body = full(client, "/pricing")
    assert 'data-model="gpt-4o-mini"' in body
    # gpt-4o-mini: ratio 0.075 -> $0.15 in, x4 -> $0.6 out per 1M tokens at 500,000 quota per dollar
    row = body[body.index('data-model="gpt-4o-mini"'):]
    row = row[:row.index("</tr>")]
    assert "$0.15" in row and "$0.6" in row
    assert "$0.04" in body  # dall-e-3 per call
    part = fragment(client, "/pricing?q=dall")
    assert "dall-e-3" in part and "gpt-4o-mini" not in part


def test_pricing_without_channels(client):
    assert "No models are available yet" in full(client, "/pricing")


def test_sora_models_are_priced_per_second_of_video(client):
    channels.create_channels({"mode": "single", "channel": {
        "name": "c", "key": "sk-x", "models": "sora-2-pro,dall-e-3", "group": "default"}})
    body = full(client, "/pricing")
    sora = body[body.index('data-model="sora-2-pro"'):]
    sora = sora[:sora.index("</tr>")]
    assert "per second of video" in sora and "$0.3" in sora
    dalle = body[body.index('data-model="dall-e-3"'):]
    assert "per call" in dalle[:dalle.index("</tr>")]
