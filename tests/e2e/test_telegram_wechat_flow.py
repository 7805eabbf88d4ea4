"""Telegram and WeChat sign-in in Chromium: the login page's widget and code form, with CSRF and the CSP on.

telegram.org cannot be reached from the tests, so Playwright answers the widget's script URL with a stand-in
that does what the real widget ends with: it sends the browser to its data-auth-url plus the signed fields
(signed here by Telegram's documented rule). That the page fixture sees no CSP error shows the policy lets
the script load. The WeChat code is checked against the mock WeChat Server over real HTTP.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import User
from app.options import options
from tests.api.test_telegram_wechat import BOT_TOKEN, OPENID, TELEGRAM, WX_TOKEN, widget_fields
from tests.e2e.conftest import screenshot, start_server
from tests.mock_oauth import MockWeChatServer

pytestmark = pytest.mark.browser

QR_URL = "https://wechat.example.com/qrcode.png"
# A 1x1 transparent PNG for the QR code image.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=")
WIDGET_STAND_IN = """(function () {
  var script = document.currentScript;
  var button = document.createElement("button");
  button.type = "button";
  button.textContent = "Log in as @" + script.getAttribute("data-telegram-login");
  button.addEventListener("click", function () {
    var url = script.getAttribute("data-auth-url");
    location.href = url + (url.indexOf("?") >= 0 ? "&" : "?") + %s;
  });
  script.parentNode.insertBefore(button, script);
})();"""


@pytest.fixture
def server(tmp_path, tiktoken_cache):
    from app.services.setup import perform_setup
    from app.web.hooks import mark_setup_done

    with MockWeChatServer(token=WX_TOKEN) as wechat:
        app_server = start_server(tmp_path / "app", tiktoken_cache, OAUTH_HTTP_TIMEOUT=5)
        with app_server.app.app_context():
            perform_setup("root", "root-password-1", "root-password-1")
            mark_setup_done()
            options().update({**TELEGRAM, "WeChatAuthEnabled": True, "WeChatServerAddress": wechat.url,
                              "WeChatServerToken": WX_TOKEN, "WeChatAccountQRCodeImageURL": QR_URL})
        app_server.wechat = wechat
        yield app_server
        app_server.stop()


def linked(server, column: str) -> list[str]:
    with server.app.app_context():
        return [name for (name,) in db.session.query(User.username).filter(getattr(User, column).isnot(None))]


def test_telegram_widget_signs_in_from_the_login_page(page, server, tmp_path):
    fields = urlencode(widget_fields(BOT_TOKEN))
    page.route("https://telegram.org/js/telegram-widget.js*", lambda route: route.fulfill(
        status=200, content_type="application/javascript", body=WIDGET_STAND_IN % json.dumps(fields)))
    page.route(QR_URL, lambda route: route.fulfill(status=200, content_type="image/png", body=PNG))
    page.goto(server.url + "/login?next=/console/profile")
    button = page.get_by_role("button", name="Log in as @sluice_test_bot")
    expect(button).to_be_visible()
    screenshot(page, "login-telegram-wechat", tmp_path)
    button.click()
    page.wait_for_url(server.url + "/console/profile")
    expect(page.locator("[data-testid=oauth-bindings] [data-provider=telegram]")).to_contain_text(
        "Linked (ID 93372553)")
    assert linked(server, "telegram_id") == ["durov"]


def test_wechat_code_signs_in_from_the_login_page(page, server):
    page.route(QR_URL, lambda route: route.fulfill(status=200, content_type="image/png", body=PNG))
    page.route("https://telegram.org/js/telegram-widget.js*", lambda route: route.fulfill(
        status=200, content_type="application/javascript", body=""))
    page.goto(server.url + "/login?next=/console/profile")
    form = page.locator("[data-testid=wechat-login]")
    expect(form.get_by_role("img")).to_have_attribute("src", QR_URL)

    form.get_by_label("Verification code").fill("000000")
    form.get_by_role("button").click()
    expect(page.locator(".alert-danger")).to_contain_text("验证码错误或已过期")
    assert linked(server, "wechat_id") == []

    form = page.locator("[data-testid=wechat-login]")
    form.get_by_label("Verification code").fill(server.wechat.issue_code(OPENID))
    form.get_by_role("button").click()
    page.wait_for_url(server.url + "/console/profile")
    expect(page.locator("[data-testid=oauth-bindings] [data-provider=wechat]")).to_contain_text(
        f"Linked (ID {OPENID})")
    assert len(linked(server, "wechat_id")) == 1
