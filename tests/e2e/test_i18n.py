"""Switching the interface to Chinese from the language menu, and staying there."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import login, screenshot
from tests.factories import make_user

pytestmark = pytest.mark.browser


def test_switch_to_chinese_and_back(page, context, live_server, tmp_path):
    base = live_server.url
    with live_server.app.app_context():
        make_user("zh-user", "password-123")
    login(page, base, "zh-user", "password-123")
    page.goto(base + "/console/keys")
    assert page.get_attribute("html", "lang") == "en"
    page.click("[data-testid=lang-menu]")
    with page.expect_navigation():
        page.click("a.dropdown-item[lang=zh-CN]")
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert page.locator("h1").inner_text() == "API 密钥"
    assert {"name": "lang", "value": "zh_CN"}.items() <= next(
        c for c in context.cookies() if c["name"] == "lang").items()

    # Messages from the server (toasts) are translated too, and the choice survives a reload.
    page.fill("#new-name", "zh key")
    page.click("#key-create button[type=submit]")
    page.locator("#toasts .toast", has_text="密钥已创建").wait_for()
    page.reload()
    assert page.locator("nav").inner_text().count("仪表盘") == 1
    screenshot(page, "user-keys-zh", tmp_path)

    page.click("[data-testid=lang-menu]")
    with page.expect_navigation():
        page.click("a.dropdown-item[lang=en]")
    assert page.url.endswith("/console/keys")
    assert page.locator("h1").inner_text() == "API keys"
