"""Two-factor authentication over the API: setup, enable, login second step, replay, backup codes,
lockout, disable, regenerate and the admin reset (new-api's /api/user/2fa/* and /api/user/login/2fa)."""

from __future__ import annotations

import time

import pyotp
import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Log, LogType, TwoFA, TwoFABackupCode
from app.services import two_factor
from app.web.second_step import PENDING_KEY
from tests.factories import make_user
from tests.fixtures.race import all_at_once

STEP = two_factor.STEP_SECONDS


def _code(secret: str, step_offset: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + step_offset * STEP)


def _setup_and_enable(client) -> dict:
    data = client.post("/api/user/2fa/setup").get_json()["data"]
    response = client.post("/api/user/2fa/enable", json={"code": _code(data["secret"], -1)})
    assert response.status_code == 200, response.get_json()
    return data


def _login(client, password="password123"):
    return client.post("/api/user/login", json={"username": "alice", "password": password})


def test_setup_returns_uri_svg_and_codes_and_keeps_2fa_off(user_client, user):
    response = user_client.post("/api/user/2fa/setup")
    data = response.get_json()["data"]
    assert data["qr_code_data"].startswith("otpauth://totp/Sluice:alice?secret=")
    assert data["qr_code_svg"].startswith("<svg") and "<script" not in data["qr_code_svg"]
    assert len(data["backup_codes"]) == 10 and len(set(data["backup_codes"])) == 10
    row = db.session.scalar(select(TwoFA).where(TwoFA.user_id == user.id))
    assert data["secret"] not in row.secret_encrypted and not row.is_enabled
    hashes = db.session.scalars(select(TwoFABackupCode.code_hash).where(TwoFABackupCode.user_id == user.id)).all()
    assert len(hashes) == 10 and not set(data["backup_codes"]) & set(hashes)
    status = user_client.get("/api/user/2fa/status").get_json()["data"]
    assert status["enabled"] is False and status["pending_setup"] is True
    assert "secret" not in str(status)


def test_enable_needs_a_right_code_then_login_needs_the_second_step(user_client, client, user):
    data = user_client.post("/api/user/2fa/setup").get_json()["data"]
    wrong = user_client.post("/api/user/2fa/enable", json={"code": "000000" if _code(data["secret"]) != "000000"
                                                                     else "111111"})
    assert wrong.status_code == 401 and not two_factor.is_enabled(user.id)
    assert user_client.post("/api/user/2fa/enable", json={"code": data["backup_codes"][0]}).status_code == 401
    assert user_client.post("/api/user/2fa/enable", json={"code": _code(data["secret"])}).status_code == 200
    assert user_client.get("/api/user/2fa/status").get_json()["data"]["backup_codes_remaining"] == 10

    first = _login(client).get_json()
    assert first["success"] and first["data"] == {"require_2fa": True}
    assert client.get("/api/user/self").status_code == 401  # not signed in yet
    assert client.post("/api/user/login/2fa", json={}).status_code == 400
    # the code that enabled 2FA was this step's: using it again is a replay
    assert client.post("/api/user/login/2fa", json={"code": _code(data["secret"])}).status_code == 401
    done = client.post("/api/user/login/2fa", json={"code": _code(data["secret"], 1)})
    assert done.status_code == 200 and done.get_json()["data"]["username"] == "alice"
    assert client.get("/api/user/self").status_code == 200


def test_replayed_code_refused(user_client, client, user):
    data = _setup_and_enable(user_client)
    code = _code(data["secret"])
    _login(client)
    assert client.post("/api/user/login/2fa", json={"code": code}).status_code == 200
    other = user_client.application.test_client()
    _login(other)
    assert other.post("/api/user/login/2fa", json={"code": code}).status_code == 401
    assert other.get("/api/user/self").status_code == 401


def test_backup_code_works_once(user_client, client, user):
    data = _setup_and_enable(user_client)
    backup = data["backup_codes"][3]
    _login(client)
    assert client.post("/api/user/login/2fa", json={"code": backup.lower()}).status_code == 200
    again = user_client.application.test_client()
    _login(again)
    assert again.post("/api/user/login/2fa", json={"code": backup}).status_code == 401
    assert user_client.get("/api/user/2fa/status").get_json()["data"]["backup_codes_remaining"] == 9


def test_second_step_expires_and_needs_a_pending_login(user_client, client, app):
    data = _setup_and_enable(user_client)
    assert client.post("/api/user/login/2fa", json={"code": _code(data["secret"], 1)}).status_code == 401
    _login(client)
    with client.session_transaction() as session:
        session[PENDING_KEY] = {**session[PENDING_KEY], "expires": int(time.time()) - 1}
    assert client.post("/api/user/login/2fa", json={"code": _code(data["secret"], 1)}).status_code == 401
    assert client.get("/api/user/self").status_code == 401


def test_lockout_after_repeated_wrong_codes(user_client, client, user):
    data = _setup_and_enable(user_client)
    _login(client)
    wrong = "123456" if _code(data["secret"], 1) != "123456" else "654321"
    for _ in range(two_factor.MAX_FAILED_ATTEMPTS):
        assert client.post("/api/user/login/2fa", json={"code": wrong}).status_code == 401
    locked = client.post("/api/user/login/2fa", json={"code": _code(data["secret"], 1)})
    assert locked.status_code == 429 and "try again" in locked.get_json()["message"]
    assert client.get("/api/user/self").status_code == 401
    assert user_client.get("/api/user/2fa/status").get_json()["data"]["locked"] is True
    row = db.session.scalar(select(TwoFA).where(TwoFA.user_id == user.id))
    db.session.refresh(row)
    row.locked_until = int(time.time()) - 1  # the lockout has run out
    db.session.commit()
    assert client.post("/api/user/login/2fa", json={"code": _code(data["secret"], 1)}).status_code == 200


def test_disable_and_regenerate_need_a_code(user_client, client, user):
    data = _setup_and_enable(user_client)
    assert user_client.post("/api/user/2fa/backup_codes", json={}).status_code == 400
    fresh = user_client.post("/api/user/2fa/backup_codes", json={"code": _code(data["secret"])})
    new_codes = fresh.get_json()["data"]["backup_codes"]
    assert len(new_codes) == 10 and not set(new_codes) & set(data["backup_codes"])
    assert user_client.post("/api/user/2fa/disable", json={"code": data["backup_codes"][0]}).status_code == 401
    assert two_factor.is_enabled(user.id)
    assert user_client.post("/api/user/2fa/disable", json={"code": new_codes[0]}).status_code == 200
    assert not two_factor.is_enabled(user.id)
    assert db.session.scalar(select(TwoFABackupCode).where(TwoFABackupCode.user_id == user.id)) is None
    assert _login(client).get_json()["data"]["username"] == "alice"


def test_setup_refused_while_enabled(user_client):
    _setup_and_enable(user_client)
    assert user_client.post("/api/user/2fa/setup").status_code == 409


@pytest.mark.parametrize("path", ["/api/user/2fa/status", "/api/user/2fa/setup"])
def test_needs_sign_in(client, path):
    response = client.get(path) if path.endswith("status") else client.post(path)
    assert response.status_code == 401


def test_admin_reset_writes_a_log(user_client, admin_client, client, user, admin_user):
    _setup_and_enable(user_client)
    assert user_client.delete(f"/api/user/{user.id}/2fa").status_code == 403
    response = admin_client.delete(f"/api/user/{user.id}/2fa")
    assert response.status_code == 200, response.get_json()
    assert not two_factor.is_enabled(user.id)
    log = db.session.scalar(select(Log).where(Log.user_id == user.id, Log.type == LogType.MANAGE))
    assert "admin" in log.content and admin_user.username in log.content
    assert admin_client.delete(f"/api/user/{user.id}/2fa").status_code == 400
    assert admin_client.delete("/api/user/999999/2fa").status_code == 404
    assert _login(client).get_json()["data"]["username"] == "alice"


# -- races: one code, many half-finished sign-ins at the same instant ---------------------------------------
def _racing_sign_ins(app, count: int) -> tuple[list, str, list[str]]:
    user = make_user("racer")
    with app.test_request_context():
        setup = two_factor.setup(user)
        two_factor.enable(user, pyotp.TOTP(setup["secret"]).at(time.time() - STEP))
    clients = [app.test_client() for _ in range(count)]
    for client in clients:
        assert client.post("/api/user/login", json={"username": "racer", "password": "password123"}
                           ).get_json()["data"] == {"require_2fa": True}
    return clients, setup["secret"], setup["backup_codes"]


def _race(clients, code: str) -> list[int]:
    return all_at_once(len(clients), lambda i: clients[i].post("/api/user/login/2fa", json={"code": code}).status_code)


@pytest.mark.slow
def test_race_one_totp_code_signs_in_once(race_app):
    clients, secret, _codes = _racing_sign_ins(race_app, 10)
    statuses = _race(clients, pyotp.TOTP(secret).now())
    # the losers are refused as replays; the fifth refusal in a row locks the second step (429)
    assert statuses.count(200) == 1 and set(statuses) <= {200, 401, 429}, statuses


@pytest.mark.slow
def test_race_one_backup_code_signs_in_once(race_app):
    clients, _secret, codes = _racing_sign_ins(race_app, 10)
    statuses = _race(clients, codes[0])
    # the losers are refused as replays; the fifth refusal in a row locks the second step (429)
    assert statuses.count(200) == 1 and set(statuses) <= {200, 401, 429}, statuses
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(TwoFABackupCode).where(
        TwoFABackupCode.is_used.is_(True))) == 1
