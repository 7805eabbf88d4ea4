"""Linked accounts in the browser against the mock OAuth provider: bind GitHub from the profile page (the
browser really goes to the provider and back), see the id, unbind through the HTMX form and its confirm."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import User
from app.options import options
from tests.e2e.conftest import login, screenshot, start_server
from tests.factories import make_user
from tests.mock_oauth import MockOAuth

pytestmark = pytest.mark.browser


@pytest.fixture
def oauth_server(tmp_path, tiktoken_cache):
    from app.services.setup import perform_setup
    from app.web.hooks import mark_setup_done

    with MockOAuth() as provider:
        provider.register_client("github", "gh-client", "gh-secret")
        provider.login_as("github", id=583231, login="octocat", name="The Octocat")
        server = start_server(tmp_path / "app", tiktoken_cache, OAUTH_GITHUB_BASE=f"{provider.url}/gh",
                              OAUTH_GITHUB_API_BASE=f"{provider.url}/gh-api", OAUTH_HTTP_TIMEOUT=5)
        with server.app.app_context():
            perform_setup("root", "root-password-1", "root-password-1")
            mark_setup_done()
            options().update({"GitHubOAuthEnabled": True, "GitHubClientId": "gh-client",
                              "GitHubClientSecret": "gh-secret"})
            make_user("alice", "alice-password-1")
        yield server
        server.stop()


def github_id(server) -> str | None:
    with server.app.app_context():
        return db.session.query(User.github_id).filter(User.username == "alice").scalar()


def test_bind_and_unbind_github_from_the_profile(page, oauth_server, dialogs, tmp_path):
    base = oauth_server.url
    login(page, base, "alice", "alice-password-1")
    page.goto(base + "/console/profile")
    card = page.locator("[data-testid=oauth-bindings]")
    row = card.locator("[data-provider=github]")
    expect(row).to_contain_text("Not linked")
    row.get_by_role("link", name="Bind").click()  # off to the provider, which approves and sends us back
    page.wait_for_url(base + "/console/profile")
    expect(row).to_contain_text("Linked (ID 583231)")
    assert github_id(oauth_server) == "583231"
    screenshot(page, "profile-linked-accounts", tmp_path)

    row.get_by_role("button", name="Unbind").click()
    expect(row).to_contain_text("Not linked")
    expect(page.locator("text=Your GitHub account is no longer linked.")).to_be_visible()
    assert dialogs.confirms == ["Unlink your GitHub account?"]
    assert github_id(oauth_server) is None
