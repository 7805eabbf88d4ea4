"""Sign-in with Telegram (the Login Widget's signed fields) and WeChat (a WeChat Server's codes), end to end.

Telegram: the test signs the widget's fields itself, by Telegram's documented rule (written out again here,
not borrowed from the app), so a wrong check in the app fails these tests. WeChat: a mock WeChat Server on
127.0.0.1 speaks the format one-api reads; every call from the app to it is real HTTP.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import socket
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Log, LogType, Setup, User, UserStatus
from app.options import options
from tests.conftest import login_client
from tests.factories import make_user
from tests.fixtures.race import all_at_once
from tests.mock_oauth import MockWeChatServer

BOT_TOKEN = "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
TELEGRAM = {"TelegramOAuthEnabled": True, "TelegramBotToken": BOT_TOKEN, "TelegramBotName": "sluice_test_bot"}
DUROV = {"id": "93372553", "first_name": "Pavel", "last_name": "Durov", "username": "durov",
         "photo_url": "https://t.me/i/userpic/320/durov.jpg"}
WX_TOKEN = "wx-server-token"
OPENID = "oRd6f6wZ0pZL_MzG5w3qNnW4Jx0E"
HX = {"HX-Request": "true"}


def widget_fields(token: str = BOT_TOKEN, *, age: float = 0, **overrides: str) -> dict[str, str]:
    """What the widget puts in the query after the user confirms: the fields plus their `hash`, signed with
    `token` as https://core.telegram.org/widgets/login#checking-authorization says."""
    fields = {**DUROV, "auth_date": str(int(time.time() - age)), **overrides}
    check_string = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
    key = hashlib.sha256(token.encode()).digest()
    return {**fields, "hash": hmac.new(key, check_string.encode(), hashlib.sha256).hexdigest()}


def users() -> list[User]:
    db.session.commit()
    return list(db.session.scalars(select(User).order_by(User.id)))


def fresh(user_id: int) -> User:
    db.session.commit()
    return db.session.get(User, user_id)


def signed_in_as(client) -> str | None:
    response = client.get("/api/user/self")
    return response.get_json()["data"]["username"] if response.status_code == 200 else None


def api_state(client, aff: str = "") -> str:
    return client.get("/api/oauth/state" + (f"?aff={aff}" if aff else "")).get_json()["data"]


@pytest.fixture(scope="module")
def wechat_server():
    with MockWeChatServer(token=WX_TOKEN) as server:
        yield server


@pytest.fixture
def app_overrides():
    return {"OAUTH_HTTP_TIMEOUT": 3}


@pytest.fixture
def telegram(app, setup_done):
    options().update(TELEGRAM)


@pytest.fixture
def wechat(app, setup_done, wechat_server):
    wechat_server.reset()
    options().update({"WeChatAuthEnabled": True, "WeChatServerAddress": wechat_server.url,
                      "WeChatServerToken": WX_TOKEN,
                      "WeChatAccountQRCodeImageURL": "https://wechat.example.com/qrcode.jpg"})
    return wechat_server


# -- Telegram: the JSON routes -----------------------------------------------------------------------------
def test_first_telegram_sign_in_registers_with_the_welcome_quota_and_invitation(client, telegram):
    inviter = make_user("inviter", aff_code="INVITE42")
    options().update({"QuotaForNewUser": 5000, "QuotaForInvitee": 70})
    response = client.get("/api/oauth/telegram/login?" + urlencode({**widget_fields(), "aff": "INVITE42"}))
    body = response.get_json()
    assert response.status_code == 200 and body["success"] is True, body
    assert body["data"]["username"] == "durov"
    durov = users()[-1]
    assert (durov.telegram_id, durov.display_name, durov.password) == ("93372553", "Pavel Durov", "")
    assert durov.quota == 5070 and durov.inviter_id == inviter.id
    logs = db.session.scalars(select(Log).where(Log.user_id == durov.id)).all()
    assert {log.quota for log in logs if log.type == LogType.SYSTEM} >= {5000}
    assert signed_in_as(client) == "durov"

    # The same Telegram account again, in a new browser: the same user, nobody new.
    browser = client.application.test_client()
    assert browser.get("/api/oauth/telegram/login?" + urlencode(widget_fields())).status_code == 200
    assert signed_in_as(browser) == "durov" and len(users()) == 2


@pytest.mark.parametrize("tamper", ["forged_hash", "other_bot", "changed_id", "extra_field", "missing_hash",
                                    "no_auth_date", "bad_hash_text"])
def test_forged_telegram_data_is_refused_and_creates_nobody(client, telegram, h, tamper):
    fields = widget_fields()
    if tamper == "forged_hash":
        fields["hash"] = "0" * 64
    elif tamper == "other_bot":
        fields = widget_fields("999999:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    elif tamper == "changed_id":
        fields["id"] = "1"
    elif tamper == "extra_field":
        fields["is_admin"] = "1"
    elif tamper == "missing_hash":
        del fields["hash"]
    elif tamper == "no_auth_date":
        del fields["auth_date"]
    else:
        fields["hash"] = "not-hex"
    before = h.counts()
    body = h.envelope_error(client.get("/api/oauth/telegram/login?" + urlencode(fields)), 400)
    assert "Telegram" in body["message"]
    assert h.counts() == before and signed_in_as(client) is None


@pytest.mark.parametrize("age", [86_400 + 60, 7 * 86_400, -3600])
def test_old_or_future_telegram_data_is_refused(client, telegram, h, age):
    body = h.envelope_error(client.get("/api/oauth/telegram/login?" + urlencode(widget_fields(age=age))), 400)
    assert "expired" in body["message"] and h.counts()[0] == 0


def test_telegram_data_a_few_hours_old_is_accepted(client, telegram):
    assert client.get("/api/oauth/telegram/login?" + urlencode(widget_fields(age=6 * 3600))).status_code == 200


def test_telegram_off_or_unconfigured_answers_clearly(client, setup_done, h):
    h.envelope_error(client.get("/api/oauth/telegram/login?" + urlencode(widget_fields())), 403)
    # The OAuth routes do not take the widget's providers.
    options().update(TELEGRAM)
    assert client.get("/oauth/telegram").status_code == 404
    h.envelope_error(client.get("/api/oauth/telegram?code=x&state=y"), 404)


def test_telegram_sign_in_of_a_disabled_or_deleted_user_is_refused(client, telegram, h):
    person = make_user("tg", telegram_id="93372553")
    person.status = UserStatus.DISABLED
    db.session.commit()
    h.envelope_error(client.get("/api/oauth/telegram/login?" + urlencode(widget_fields())), 403)
    assert signed_in_as(client) is None


def test_telegram_sign_up_is_refused_when_registration_is_closed(client, telegram, h):
    options().update({"RegisterEnabled": False})
    h.envelope_error(client.get("/api/oauth/telegram/login?" + urlencode(widget_fields())), 403)
    assert h.counts()[0] == 0


def test_telegram_api_bind_needs_a_signed_in_user_and_a_state(app, user, telegram, h):
    fields = urlencode(widget_fields())
    h.envelope_error(app.test_client().get(f"/api/oauth/telegram/bind?{fields}"), 401)
    client = login_client(app, user)
    # A link to the bind URL with someone's fields, sent to a signed-in victim, must not link anything.
    h.envelope_error(client.get(f"/api/oauth/telegram/bind?{fields}"), 403)
    assert fresh(user.id).telegram_id is None
    state = api_state(client)
    answer = client.get(f"/api/oauth/telegram/bind?{fields}&state={state}").get_json()
    assert answer == {"success": True, "message": "bind", "data": None}
    assert fresh(user.id).telegram_id == "93372553"
    # The state was used once.
    h.envelope_error(client.get(f"/api/oauth/telegram/bind?{fields}&state={state}"), 403)


def test_binding_a_telegram_account_someone_else_holds_is_refused(app, user, telegram, h):
    make_user("bob", telegram_id="93372553")
    client = login_client(app, user)
    state = api_state(client)
    body = h.envelope_error(client.get(f"/api/oauth/telegram/bind?{urlencode(widget_fields())}&state={state}"), 409)
    assert "another user" in body["message"] and fresh(user.id).telegram_id is None


# -- Telegram: the pages -----------------------------------------------------------------------------------
def widget_on(page: str) -> dict[str, str]:
    """The data-attributes of the Telegram widget's script tag on `page`."""
    tag = re.search(r'<script async src="https://telegram.org/js/telegram-widget.js\?22"(.*?)></script>', page, re.S)
    assert tag, "no Telegram widget on the page"
    return dict(re.findall(r'(data-[a-z-]+)="([^"]*)"', tag.group(1)))


def test_login_page_shows_the_widget_and_the_csp_lets_it_load(client, telegram):
    response = client.get("/login?next=/console/keys")
    widget = widget_on(response.get_data(as_text=True))
    assert widget["data-telegram-login"] == "sluice_test_bot" and widget["data-request-access"] == "write"
    auth_url = urlsplit(widget["data-auth-url"].replace("&amp;", "&"))
    assert auth_url.path == "/oauth/telegram/callback" and len(parse_qs(auth_url.query)["state"][0]) >= 32
    csp = response.headers["Content-Security-Policy"]
    assert "https://telegram.org" in csp.split("script-src", 1)[1].split(";")[0]
    assert "https://oauth.telegram.org" in csp.split("frame-src", 1)[1].split(";")[0]
    assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";")[0]


def test_login_page_without_telegram_has_no_widget(client, setup_done):
    assert "telegram-widget" not in client.get("/login").get_data(as_text=True)


def test_the_widget_redirect_signs_in_and_goes_on(client, telegram):
    widget = widget_on(client.get("/login?next=/console/keys").get_data(as_text=True))
    auth_url = widget["data-auth-url"].replace("&amp;", "&")
    response = client.get(urlsplit(auth_url).path + "?" + urlsplit(auth_url).query + "&" + urlencode(widget_fields()))
    assert response.status_code == 302 and response.headers["Location"] == "/console/keys"
    assert signed_in_as(client) == "durov"


def test_the_widget_redirect_without_the_pages_state_is_refused(client, telegram, h):
    response = client.get("/oauth/telegram/callback?" + urlencode(widget_fields()))
    assert response.status_code == 403 and h.counts()[0] == 0


def test_the_widget_redirect_with_forged_data_is_refused(client, telegram, h):
    widget = widget_on(client.get("/login").get_data(as_text=True))
    auth_url = widget["data-auth-url"].replace("&amp;", "&")
    fields = {**widget_fields(), "username": "someone_else"}
    response = client.get(urlsplit(auth_url).path + "?" + urlsplit(auth_url).query + "&" + urlencode(fields))
    assert response.status_code == 400 and h.counts()[0] == 0


def test_profile_binds_telegram_with_the_widget_then_unbind_rules(app, user, telegram):
    client = login_client(app, user)
    page = client.get("/console/profile").get_data(as_text=True)
    card = page[page.index('data-testid="oauth-bindings"'):]
    widget = widget_on(card)
    auth_url = widget["data-auth-url"].replace("&amp;", "&")
    response = client.get(urlsplit(auth_url).path + "?" + urlsplit(auth_url).query + "&" + urlencode(widget_fields()))
    assert response.status_code == 302 and response.headers["Location"] == "/console/profile"
    page = client.get("/console/profile").get_data(as_text=True)
    assert "Linked (ID 93372553)" in page and "is now linked" in page
    assert fresh(user.id).telegram_id == "93372553"

    # Without a password (or with password sign-in off), Telegram is the last way in: it stays.
    person = fresh(user.id)
    person.password = ""
    db.session.commit()
    refused = client.post("/console/profile/oauth/telegram/unbind", headers=HX)
    assert refused.status_code == 422 and "only way to sign in" in refused.get_data(as_text=True)
    assert fresh(user.id).telegram_id == "93372553"
    answer = client.delete("/api/user/oauth/telegram")
    assert answer.status_code == 403 and answer.get_json()["success"] is False


def test_a_user_with_a_password_unbinds_telegram(app, user, telegram):
    user.telegram_id = "93372553"
    db.session.commit()
    client = login_client(app, user)
    response = client.post("/console/profile/oauth/telegram/unbind", headers=HX)
    assert response.status_code == 200 and "no longer linked" in response.headers["HX-Trigger"]
    assert fresh(user.id).telegram_id is None
    # The card comes back with the widget to link again.
    widget_on(response.get_data(as_text=True))


# -- WeChat: the JSON routes -------------------------------------------------------------------------------
def test_first_wechat_sign_in_registers_a_user(client, wechat):
    options().update({"QuotaForNewUser": 300})
    code = wechat.issue_code(OPENID)
    response = client.get(f"/api/oauth/wechat?code={code}")
    body = response.get_json()
    assert response.status_code == 200 and body["success"] is True, body
    person = users()[-1]
    assert person.wechat_id == OPENID and person.quota == 300 and person.username.startswith("wechat_user")
    assert signed_in_as(client) == person.username
    call = wechat.requests[-1]
    assert call["path"] == "/api/wechat/user" and call["query"] == {"code": code}
    assert call["authorization"] == WX_TOKEN  # one-api's header: the token itself
    # Next time, the same account signs in to the same user.
    browser = client.application.test_client()
    assert browser.get(f"/api/oauth/wechat?code={wechat.issue_code(OPENID)}").status_code == 200
    assert signed_in_as(browser) == person.username and len(users()) == 1


@pytest.mark.parametrize("code", ["000000", "", "12 34", "x" * 40])
def test_a_wrong_wechat_code_is_refused(client, wechat, h, code):
    wechat.issue_code(OPENID)
    body = h.envelope_error(client.get("/api/oauth/wechat?" + urlencode({"code": code})), 400)
    assert "code" in body["message"] and h.counts()[0] == 0


def test_the_wechat_servers_reason_is_passed_on_and_a_code_works_once(client, wechat, h):
    code = wechat.issue_code(OPENID)
    assert client.get(f"/api/oauth/wechat?code={code}").status_code == 200
    body = h.envelope_error(client.application.test_client().get(f"/api/oauth/wechat?code={code}"), 400)
    assert "验证码错误或已过期" in body["message"]


def test_an_expired_wechat_code_is_refused(client, wechat, h):
    code = wechat.issue_code(OPENID, expires_in=-1)
    h.envelope_error(client.get(f"/api/oauth/wechat?code={code}"), 400)
    assert h.counts()[0] == 0


def test_a_wrong_wechat_server_token_is_refused(client, wechat, h):
    options().update({"WeChatServerToken": "not-the-token"})
    body = h.envelope_error(client.get(f"/api/oauth/wechat?code={wechat.issue_code(OPENID)}"), 400)
    assert "token" in body["message"] and h.counts()[0] == 0


def test_a_failing_wechat_server_is_a_502(client, wechat, h):
    wechat.fail_with(503)
    body = h.envelope_error(client.get(f"/api/oauth/wechat?code={wechat.issue_code(OPENID)}"), 502)
    assert "WeChat" in body["message"] and h.counts()[0] == 0


def test_an_unreachable_wechat_server_is_a_502(client, wechat, h):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    options().update({"WeChatServerAddress": f"http://127.0.0.1:{port}"})
    body = h.envelope_error(client.get("/api/oauth/wechat?code=123456"), 502)
    assert "could not reach" in body["message"] and h.counts()[0] == 0


def test_wechat_off_is_refused(client, setup_done, h):
    h.envelope_error(client.get("/api/oauth/wechat?code=123456"), 403)


def test_wechat_api_bind_needs_a_state_and_refuses_a_taken_account(app, user, wechat, h):
    client = login_client(app, user)
    h.envelope_error(client.get(f"/api/oauth/wechat/bind?code={wechat.issue_code(OPENID)}"), 403)
    assert fresh(user.id).wechat_id is None
    h.envelope_error(app.test_client().get("/api/oauth/wechat/bind?code=123456&state=x"), 401)
    answer = client.get(f"/api/oauth/wechat/bind?code={wechat.issue_code(OPENID)}&state={api_state(client)}")
    assert answer.get_json() == {"success": True, "message": "bind", "data": None}
    assert fresh(user.id).wechat_id == OPENID

    other = login_client(app, make_user("bob"))
    body = h.envelope_error(
        other.get(f"/api/oauth/wechat/bind?code={wechat.issue_code(OPENID)}&state={api_state(other)}"), 409)
    assert "another user" in body["message"]


# -- WeChat: the pages -------------------------------------------------------------------------------------
def test_login_page_shows_the_qr_code_and_signs_in_with_a_code(client, wechat):
    page = client.get("/login?next=/console/keys").get_data(as_text=True)
    form = page[page.index('data-testid="wechat-login"'):]
    assert 'src="https://wechat.example.com/qrcode.jpg"' in form and 'name="code"' in form
    response = client.post("/oauth/wechat", data={"code": wechat.issue_code(OPENID), "next": "/console/keys"})
    assert response.status_code == 302 and response.headers["Location"] == "/console/keys"
    assert signed_in_as(client) is not None and users()[-1].wechat_id == OPENID


def test_a_wrong_code_on_the_login_page_says_why(client, wechat, h):
    response = client.post("/oauth/wechat", data={"code": "999999"})
    assert response.status_code == 422
    assert "验证码错误或已过期" in response.get_data(as_text=True) and h.counts()[0] == 0


@pytest.mark.parametrize("app_overrides", [{"WTF_CSRF_ENABLED": True, "OAUTH_HTTP_TIMEOUT": 3}])
def test_the_wechat_form_needs_the_csrf_token(client, wechat, h):
    token = h.csrf_token(client, "/login")  # the browser has a session cookie now: forged posts carry it
    assert client.post("/oauth/wechat", data={"code": wechat.issue_code(OPENID)}).status_code == 400
    assert h.counts()[0] == 0 and wechat.requests == []
    response = client.post("/oauth/wechat", data={"code": wechat.issue_code(OPENID), "csrf_token": token})
    assert response.status_code == 302 and users()[-1].wechat_id == OPENID


def test_profile_binds_wechat_with_a_code_and_the_admin_clears_it(app, user, wechat, admin_client):
    client = login_client(app, user)
    page = client.get("/console/profile").get_data(as_text=True)
    card = page[page.index('data-testid="oauth-bindings"'):]
    assert 'data-testid="wechat-bind"' in card and 'src="https://wechat.example.com/qrcode.jpg"' in card
    response = client.post("/oauth/wechat", data={"code": wechat.issue_code(OPENID), "next": "/console/profile"})
    assert response.status_code == 302 and response.headers["Location"] == "/console/profile"
    assert fresh(user.id).wechat_id == OPENID
    assert "is now linked" in client.get("/console/profile").get_data(as_text=True)

    wrong = client.post("/oauth/wechat", data={"code": "999999", "next": "/console/profile"})
    assert wrong.status_code == 302 and "验证码错误或已过期" in client.get("/console/profile").get_data(as_text=True)

    editor = admin_client.get(f"/admin/users/{user.id}/edit", headers=HX).get_data(as_text=True)
    section = editor[editor.index('data-testid="user-oauth-bindings"'):]
    assert OPENID in section
    cleared = admin_client.post(f"/admin/users/{user.id}/oauth/wechat/clear", headers=HX)
    assert cleared.status_code == 200 and fresh(user.id).wechat_id is None


def test_a_wechat_account_held_by_someone_else_is_not_linked_from_the_profile(app, user, wechat):
    make_user("bob", wechat_id=OPENID)
    client = login_client(app, user)
    response = client.post("/oauth/wechat", data={"code": wechat.issue_code(OPENID), "next": "/console/profile"})
    assert response.status_code == 302
    assert "already linked to another user" in client.get("/console/profile").get_data(as_text=True)
    assert fresh(user.id).wechat_id is None


# -- settings and status ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("changes", "complaint"), [
    ({"TelegramOAuthEnabled": True}, "TelegramBotToken"),
    ({"TelegramOAuthEnabled": True, "TelegramBotToken": BOT_TOKEN}, "TelegramBotName"),
    ({"TelegramBotName": "@my_bot"}, "TelegramBotName"),
    ({"TelegramBotToken": "abc"}, "TelegramBotToken"),
    ({"WeChatAuthEnabled": True}, "WeChatServerAddress"),
    ({"WeChatServerAddress": "wechat.example.com"}, "WeChatServerAddress"),
    ({"WeChatAccountQRCodeImageURL": "http://example.com/qr.png"}, "WeChatAccountQRCodeImageURL"),
])
def test_settings_refuse_what_would_not_work(root_client, changes, complaint):
    response = root_client.put("/api/option/", json=changes)
    body = response.get_json()
    assert response.status_code == 400 and body["success"] is False and complaint in body["message"], body
    assert root_client.get("/api/status").get_json()["data"]["telegram_oauth"] is False


def test_status_and_settings_page_show_both_methods(root_client, wechat, telegram):
    data = root_client.get("/api/status").get_json()["data"]
    assert data["telegram_oauth"] is True and data["wechat_login"] is True
    assert data["telegram_bot_name"] == "sluice_test_bot"
    assert data["wechat_qrcode"] == "https://wechat.example.com/qrcode.jpg"
    assert BOT_TOKEN not in root_client.get("/api/status").get_data(as_text=True)
    page = root_client.get("/admin/settings?group=registration").get_data(as_text=True)
    for key in ("TelegramBotName", "WeChatServerAddress", "WeChatServerToken", "WeChatAccountQRCodeImageURL"):
        assert f'name="{key}"' in page, key
    assert BOT_TOKEN not in page and WX_TOKEN not in page


# -- concurrency -----------------------------------------------------------------------------------------
def test_parallel_first_telegram_sign_ins_make_one_user(race_app):
    db.session.add(Setup(id=1, is_setup=True, version="test"))
    db.session.commit()
    options().update(TELEGRAM)
    clients = [race_app.test_client() for _ in range(6)]
    url = "/api/oauth/telegram/login?" + urlencode(widget_fields())
    statuses = all_at_once(len(clients), lambda i: clients[i].get(url).status_code)
    assert statuses == [200] * len(clients)
    linked = [u for u in users() if u.telegram_id == "93372553"]
    assert len(linked) == 1 and {signed_in_as(c) for c in clients} == {linked[0].username}
