"""API keys in the browser: create, reveal once, copy, disable, delete."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import login, screenshot
from tests.factories import make_user

pytestmark = pytest.mark.browser


@pytest.fixture
def key_user(live_server, request):
    name = f"k{abs(hash(request.node.name)) % 10**8}"
    with live_server.app.app_context():
        make_user(name, "password-123")
    return name, "password-123"


def test_create_reveal_copy_disable_delete(page, live_server, key_user, tmp_path, dialogs):
    login(page, live_server.url, *key_user)
    page.goto(f"{live_server.url}/console/keys")
    page.fill("#new-name", "ci key")
    page.click("#key-create button[type=submit]")
    reveal = page.locator("[data-testid=key-reveal]")
    reveal.wait_for()
    key = page.input_value("#new-key-value")
    assert key.startswith("sk-") and len(key) == 51
    page.click("[data-testid=key-reveal] [data-copy]")
    assert page.evaluate("navigator.clipboard.readText()") == key
    row = page.locator("#key-list tbody tr", has_text="ci key")
    row.wait_for()
    assert key not in row.inner_text() and key[3:7] in row.inner_text()
    screenshot(page, "user-keys", tmp_path)

    row.get_by_role("button", name="Disable").click()
    page.locator("#key-list tbody tr", has_text="Disabled").wait_for()
    page.reload()
    assert "Disabled" in page.locator("#key-list tbody tr", has_text="ci key").inner_text()
    assert page.locator("[data-testid=key-reveal]").count() == 0  # shown once only

    page.locator("#key-list tbody tr", has_text="ci key").get_by_role("button", name="Delete").click()
    page.locator("#key-list tbody tr", has_text="ci key").wait_for(state="detached")
    assert dialogs.confirms and not dialogs.alerts
