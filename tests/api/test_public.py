"""Public data: /api/pricing (new-api's shape and dollar maths), site texts rendered from Markdown and
sanitised, and the group and model lists."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import Ability, Channel
from app.options import options
from tests.conftest import login_client
from tests.factories import make_user


def serve(model: str, *groups: str, channel_type: int = 1, models: str | None = None) -> Channel:
    """A channel serving `model` in `groups`, with its routing rows (as the channel service builds them)."""
    channel = Channel(name=f"ch-{model}", key="sk-test", type=channel_type, models=models or model,
                      group=",".join(groups))
    db.session.add(channel)
    db.session.commit()
    for group in groups:
        db.session.add(Ability(group=group, model=model, channel_id=channel.id, enabled=True))
    db.session.commit()
    return channel


def _pricing(client) -> dict:
    body = client.get("/api/pricing").get_json()
    assert body["success"] is True and body["message"] == ""
    return body


# -- pricing -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model_ratio, completion_ratio, quota_per_unit, input_usd, output_usd", [
    (1, 1, 500000, 2.0, 2.0),  # ratio 1 = $0.002 / 1K tokens = $2 / 1M
    (1.25, 4, 500000, 2.5, 10.0),  # gpt-4o: $2.50 in, $10 out
    (0.075, 4, 500000, 0.15, 0.6),  # gpt-4o-mini
    (15, 2, 500000, 30.0, 60.0),  # gpt-4
    (1.5, 5, 500000, 3.0, 15.0),  # claude sonnet
    (0, 4, 500000, 0.0, 0.0),  # free
    (1, 3, 1000000, 1.0, 3.0),  # a site that counts 1,000,000 quota per dollar
    (2, 1, 250000, 8.0, 8.0),
])
def test_price_per_million_tokens(client, model_ratio, completion_ratio, quota_per_unit, input_usd, output_usd):
    options().update({"ModelRatio": {"m": model_ratio}, "CompletionRatio": {"m": completion_ratio},
                      "QuotaPerUnit": quota_per_unit, "ModelPrice": {}})
    serve("m", "default")
    entry = _pricing(client)["data"][0]
    assert entry["model_name"] == "m" and entry["quota_type"] == 0
    assert entry["model_ratio"] == model_ratio and entry["completion_ratio"] == completion_ratio
    assert entry["input_price_per_1m"] == pytest.approx(input_usd)
    assert entry["output_price_per_1m"] == pytest.approx(output_usd)
    # the same figure as new-api's front end (model_ratio x 2) whenever QuotaPerUnit is the default
    if quota_per_unit == 500000:
        assert entry["input_price_per_1m"] == pytest.approx(model_ratio * 2)
        assert entry["output_price_per_1m"] == pytest.approx(model_ratio * completion_ratio * 2)


def test_fixed_price_models(client):
    serve("dall-e-3", "default")
    entry = _pricing(client)["data"][0]
    assert entry["quota_type"] == 1 and entry["model_price"] == 0.04 and entry["price_per_request"] == 0.04
    assert entry["input_price_per_1m"] is None and entry["model_ratio"] == 0


def test_pricing_shape_and_groups(client, app):
    serve("gpt-4o", "default", "vip")
    serve("gpt-4.1", "svip")  # svip is not in UserUsableGroups
    body = _pricing(client)
    assert [e["model_name"] for e in body["data"]] == ["gpt-4o"]
    assert body["data"][0]["enable_groups"] == ["default", "vip"]
    assert body["usable_group"] == {"default": "Default", "vip": "VIP"}
    assert body["group_ratio"] == {"default": 1, "vip": 1}
    assert body["quota_per_unit"] == 500000 and body["usd_per_ratio_per_1m"] == 2
    # a signed-in user of the svip group also sees what svip serves
    svip = login_client(app, make_user("vipuser", group="svip"))
    body = _pricing(svip)
    assert [e["model_name"] for e in body["data"]] == ["gpt-4.1", "gpt-4o"]
    assert body["group_ratio"]["svip"] == 1


def test_unpriced_models_only_in_self_use_mode(client):
    serve("mystery-model", "default")
    assert _pricing(client)["data"] == []
    options().update({"SelfUseModeEnabled": True})
    entry = _pricing(client)["data"][0]
    assert entry["model_ratio"] == 1 and entry["input_price_per_1m"] == pytest.approx(2.0)


def test_disabled_abilities_are_not_on_sale(client):
    channel = serve("gpt-4o", "default")
    db.session.execute(Ability.__table__.update().where(Ability.channel_id == channel.id).values(enabled=False))
    db.session.commit()
    assert _pricing(client)["data"] == []


# -- site texts ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("path, key", [("/api/notice", "Notice"), ("/api/about", "About"),
                                       ("/api/home_page_content", "HomePageContent")])
def test_markdown_is_rendered_and_sanitised(client, path, key):
    options().update({key: (
        "# Welcome\n\nSome **bold** text and a [link](https://example.com).\n\n"
        "<script>alert('x')</script>\n\n<img src=\"https://example.com/a.png\" onerror=\"alert(1)\">\n\n"
        "[bad](javascript:alert(1)) <a href=\"#\" onclick=\"steal()\">click</a>\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n")})
    body = client.get(path).get_json()
    assert body["success"] is True
    html = body["data"]
    assert "<h1>Welcome</h1>" in html and "<strong>bold</strong>" in html
    assert '<a href="https://example.com" rel="noopener noreferrer">link</a>' in html
    assert "<table>" in html and '<img src="https://example.com/a.png">' in html
    lowered = html.lower()
    for bad in ("<script", "alert(", "onerror", "onclick", "javascript:"):
        assert bad not in lowered, bad


def test_empty_text_and_bare_url(client):
    assert client.get("/api/notice").get_json()["data"] == ""
    options().update({"About": "  https://example.com/about  "})
    assert client.get("/api/about").get_json()["data"] == "https://example.com/about"
    options().update({"About": 'https://example.com/" onload="x'})  # not a bare URL: rendered as text
    assert client.get("/api/about").get_json()["data"].startswith("<p>https://example.com/")


# -- groups and models ---------------------------------------------------------------------------------

def test_group_list_is_for_admins(admin_client, user_client, h):
    assert admin_client.get("/api/group/").get_json()["data"] == ["default", "svip", "vip"]
    h.envelope_error(user_client.get("/api/group/"), 403)


def test_user_self_groups(app, user_client, client, h):
    options().update({"GroupRatio": {"default": 1, "vip": 0.8, "svip": 0.5, "team": 2}})
    data = user_client.get("/api/user/self/groups").get_json()["data"]
    assert data == {"default": {"ratio": 1, "desc": "Default"}, "vip": {"ratio": 0.8, "desc": "VIP"}}
    team = login_client(app, make_user("teamuser", group="team"))
    data = team.get("/api/user/self/groups").get_json()["data"]
    assert data["team"] == {"ratio": 2, "desc": "User group"} and "svip" not in data
    h.envelope_error(client.get("/api/user/self/groups"), 401)


def test_models_per_channel_type(admin_client, user_client, h):
    serve("gpt-4o", "default", models="gpt-4o,gpt-4.1")
    serve("claude-3-haiku-20240307", "default", channel_type=14)
    serve("gpt-4o-mini", "default", models="gpt-4o-mini, gpt-4o")
    data = admin_client.get("/api/models").get_json()["data"]
    assert data == {"1": ["gpt-4.1", "gpt-4o", "gpt-4o-mini"], "14": ["claude-3-haiku-20240307"]}
    h.envelope_error(user_client.get("/api/models"), 403)
