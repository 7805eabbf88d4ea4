"""/api/option/: root reads every option but the secrets, and writes one or many, all-or-nothing."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Option
from app.options import get_option


def _rows() -> dict[str, str]:
    db.session.expire_all()
    return dict(db.session.execute(select(Option.key, Option.value)).all())


def test_list_is_key_value_strings_without_secrets(root_client):
    body = root_client.get("/api/option/").get_json()
    assert body["success"] is True
    options = {item["key"]: item["value"] for item in body["data"]}
    assert all(isinstance(v, str) for v in options.values())
    assert options["QuotaPerUnit"] == "500000" and options["RegisterEnabled"] == "true"
    assert json.loads(options["GroupRatio"])["default"] == 1
    for key in options:
        # Turnstile's site key is public by design (every page that shows the widget carries it)
        assert not key.endswith(("Secret", "Token", "Key")) or key == "TurnstileSiteKey", key
    assert "SMTPToken" not in options and "TurnstileSecretKey" not in options
    assert "GitHubClientId" in options  # "Id" is not a secret suffix


def test_secrets_can_be_written_but_never_read_back(root_client):
    bot_token = "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"  # Telegram's documented example format
    body = root_client.put("/api/option/", json={"GitHubClientSecret": "s3cret", "TelegramBotToken": bot_token})
    assert body.get_json()["success"] is True
    assert get_option("GitHubClientSecret") == "s3cret"
    listed = root_client.get("/api/option/").get_data(as_text=True)
    assert "s3cret" not in listed and "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" not in listed
    assert "s3cret" not in body.get_data(as_text=True)


def test_single_key_value_like_new_api(root_client):
    response = root_client.put("/api/option/", json={"key": "RetryTimes", "value": "4"})
    assert response.get_json() == {"success": True, "message": "", "data": {"updated": ["RetryTimes"]}}
    assert get_option("RetryTimes") == 4
    root_client.put("/api/option/", json={"key": "RegisterEnabled", "value": False})
    assert get_option("RegisterEnabled") is False
    root_client.put("/api/option/", json={"key": "ModelRatio", "value": json.dumps({"m": 0.5})})
    assert get_option("ModelRatio") == {"m": 0.5}


def test_many_at_once(root_client):
    response = root_client.put("/api/option/", json={
        "QuotaPerUnit": 1000000, "GroupRatio": {"default": 1, "vip": 0.8}, "Notice": "hello"})
    assert response.get_json()["data"]["updated"] == ["GroupRatio", "Notice", "QuotaPerUnit"]
    assert get_option("QuotaPerUnit") == 1000000 and get_option("GroupRatio") == {"default": 1, "vip": 0.8}


@pytest.mark.parametrize("payload", [
    {"key": "QuotaPerUnit", "value": "0"},
    {"key": "QuotaPerUnit", "value": 0},
    {"key": "QuotaPerUnit", "value": "NaN"},
    {"key": "QuotaPerUnit", "value": "-5"},
    {"key": "ModelRatio", "value": '{"gpt-4o": -1}'},
    {"key": "ModelRatio", "value": '{"gpt-4o": NaN}'},
    {"key": "ModelRatio", "value": "[1, 2]"},
    {"key": "ModelRatio", "value": "{not json"},
    {"key": "GroupRatio", "value": {"default": "1"}},
    {"key": "CompletionRatio", "value": {"x": True}},
    {"key": "NoSuchOption", "value": "1"},
    {"key": 5, "value": "1"},
    {"key": "RetryTimes", "value": None},
    {"QuotaPerUnit": 1000, "ModelRatio": {"gpt-4o": -2}},  # one bad value: nothing stored
    {"Notice": "ok", "Unknown": 1},
    {},
])
def test_invalid_writes_store_nothing(root_client, h, payload):
    before = _rows()
    h.envelope_error(root_client.put("/api/option/", json=payload), 400)
    assert _rows() == before
    assert get_option("QuotaPerUnit") == 500000 and get_option("Notice") == ""


@pytest.mark.parametrize("raw", [b"{not json", b'{"key": "QuotaPerUnit", "value": NaN}', b"[1]", b"",
                                 b'{"QuotaPerUnit": 1, "QuotaPerUnit": 2}'])
def test_bad_json_bodies(root_client, h, raw):
    before = _rows()
    h.envelope_error(root_client.put("/api/option/", data=raw, content_type="application/json"), 400)
    assert _rows() == before


def test_root_only(admin_client, user_client, client, h):
    for c, status in ((admin_client, 403), (user_client, 403), (client, 401)):
        h.envelope_error(c.get("/api/option/"), status)
        h.envelope_error(c.put("/api/option/", json={"key": "Notice", "value": "x"}), status)
    assert db.session.scalar(select(func.count()).select_from(Option).where(Option.key == "Notice")) == 0
