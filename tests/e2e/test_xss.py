"""Names that are markup stay text on every page that shows them: no script runs, no dialog opens."""

from __future__ import annotations

import pytest

from app.billing.ledger import insert_log
from app.extensions import db
from app.models import LogType
from app.options import options
from app.services import channels
from tests.e2e.conftest import ROOT_NAME, ROOT_PASSWORD, login
from tests.factories import make_user

pytestmark = pytest.mark.browser
PAYLOAD = "<img src=x onerror=alert(1)>"


@pytest.fixture
def hostile_data(live_server):
    with live_server.app.app_context():
        user = make_user("xss-user", "password-123", display_name=PAYLOAD)
        channels.create_channels({"mode": "single", "channel": {
            "name": PAYLOAD, "key": "sk-x", "models": "gpt-4o-mini", "group": "default", "tag": PAYLOAD}})
        with db.engine.begin() as conn:
            insert_log(conn, {"user_id": user.id, "username": user.username, "type": LogType.CONSUME,
                              "model_name": PAYLOAD, "token_name": PAYLOAD, "content": PAYLOAD, "quota": 10,
                              "created_at": 1_700_000_000, "other": {"upstream_model_name": PAYLOAD}})
        options().update({"Notice": PAYLOAD})
        db.session.remove()
    yield
    with live_server.app.app_context():
        options().update({"Notice": ""})


def _shows_text(page) -> None:
    """The payload is in the page's own content as text (the notice banner is checked apart)."""
    assert PAYLOAD in page.inner_text("main")
    assert PAYLOAD in page.inner_text("[role=status].alert")  # the site notice
    assert page.locator("img[src=x]").count() == 0


def test_markup_in_names_is_shown_as_text(page, context, live_server, hostile_data, dialogs):
    base = live_server.url
    login(page, base, "xss-user", "password-123")
    page.goto(base + "/console/keys")
    page.fill("#new-name", PAYLOAD[:50])
    page.click("#key-create button[type=submit]")
    page.locator("[data-testid=key-reveal]").wait_for()
    page.locator("#key-list tbody tr").first.wait_for()
    _shows_text(page)
    page.goto(base + "/console/logs")
    page.locator("#log-list button", has_text="Details").first.click()
    _shows_text(page)

    context.clear_cookies()
    login(page, base, ROOT_NAME, ROOT_PASSWORD)
    for path in ("/admin/users", "/admin/logs", "/admin/channels"):
        page.goto(base + path)
        _shows_text(page)
    page.locator("#channel-list tbody tr", has_text=PAYLOAD).get_by_role("button", name="Delete").click()
    page.locator("#channel-list tbody tr", has_text=PAYLOAD).wait_for(state="detached")
    assert dialogs.confirms == [f"Delete the channel {PAYLOAD}?"]  # the confirm shows the name as text
    assert not dialogs.alerts
