"""Two-factor authentication in the pages: the profile card (set up, confirm, new backup codes, disable),
the sign-in's second step and the admin reset in the user editor."""

from __future__ import annotations

import html
import re
import time

import pyotp
from sqlalchemy import select

from app.extensions import db
from app.models import Log, LogType
from app.services import two_factor
from tests.web.conftest import HX, full

STEP = two_factor.STEP_SECONDS


def _enable_on_profile(client) -> tuple[str, list[str]]:
    response = client.post("/console/profile/2fa/setup", headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<svg" in body and "<script" not in body
    secret = html.unescape(re.search(r'data-testid="two-factor-secret">([A-Z2-7]+)<', body).group(1))
    codes = re.findall(r"<li class=\"col\">([A-Z0-9]{4}-[A-Z0-9]{4})</li>", body)
    assert len(codes) == 10
    wrong = client.post("/console/profile/2fa/enable", headers=HX, data={"code": "abc"})
    assert wrong.status_code == 422 and 'role="alert"' in wrong.get_data(as_text=True)
    done = client.post("/console/profile/2fa/enable", headers=HX, data={"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200 and "Disable" in done.get_data(as_text=True)
    assert "Two-factor authentication is on." in done.get_data(as_text=True)
    return secret, codes


def _password_step(client):
    return client.post("/login", data={"username": "alice", "password": "password123"})


def test_profile_card_and_second_step_sign_in(user_client, client, user):
    assert "Set up" in full(user_client, "/console/profile")
    secret, codes = _enable_on_profile(user_client)
    assert secret not in full(user_client, "/console/profile")  # the secret is shown only by setup

    response = _password_step(client)
    assert response.status_code == 302 and response.headers["Location"].endswith("/login/2fa")
    assert client.get("/console/profile").status_code == 302  # not signed in yet
    assert 'data-testid="login-2fa"' in full(client, "/login/2fa")
    replay = client.post("/login/2fa", data={"code": pyotp.TOTP(secret).now()})
    assert replay.status_code == 422 and "already used" in replay.get_data(as_text=True)
    done = client.post("/login/2fa", data={"code": codes[0]})
    assert done.status_code == 302
    assert full(client, "/console/profile")

    again = user_client.application.test_client()
    _password_step(again)
    assert again.post("/login/2fa", data={"code": codes[0]}).status_code == 422  # a backup code works once


def test_second_step_page_without_a_pending_sign_in_goes_back_to_login(client, user):
    response = client.get("/login/2fa")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    assert client.post("/login/2fa", data={"code": "123456"}).status_code == 302


def test_new_backup_codes_and_disable_need_a_code(user_client, user):
    secret, codes = _enable_on_profile(user_client)
    refused = user_client.post("/console/profile/2fa/backup_codes", headers=HX, data={"code": "000000"})
    assert refused.status_code == 422
    fresh = user_client.post("/console/profile/2fa/backup_codes", headers=HX,
                             data={"code": pyotp.TOTP(secret).at(time.time() + STEP)})
    new_codes = re.findall(r"<li class=\"col\">([A-Z0-9]{4}-[A-Z0-9]{4})</li>", fresh.get_data(as_text=True))
    assert fresh.status_code == 200 and len(new_codes) == 10 and not set(new_codes) & set(codes)
    assert "the old ones no longer work" in fresh.get_data(as_text=True)
    assert user_client.post("/console/profile/2fa/disable", headers=HX, data={"code": codes[1]}).status_code == 422
    off = user_client.post("/console/profile/2fa/disable", headers=HX, data={"code": new_codes[1]})
    assert off.status_code == 200 and not two_factor.is_enabled(user.id)
    assert "Two-factor authentication is off." in off.get_data(as_text=True)


def test_admin_resets_two_factor_in_the_user_editor(user_client, admin_client, user, admin_user):
    _enable_on_profile(user_client)
    editor = admin_client.get(f"/admin/users/{user.id}/edit", headers=HX).get_data(as_text=True)
    assert 'data-testid="user-two-factor"' in editor and "2fa/reset" in editor
    assert user_client.post(f"/admin/users/{user.id}/2fa/reset", headers=HX).status_code in (302, 403)
    assert two_factor.is_enabled(user.id)
    response = admin_client.post(f"/admin/users/{user.id}/2fa/reset", headers=HX)
    assert response.status_code == 200 and "toast" in response.headers["HX-Trigger"]
    assert not two_factor.is_enabled(user.id)
    log = db.session.scalar(select(Log).where(Log.user_id == user.id, Log.type == LogType.MANAGE))
    assert admin_user.username in log.content
    again = admin_client.post(f"/admin/users/{user.id}/2fa/reset", headers=HX)
    assert again.status_code == 422
