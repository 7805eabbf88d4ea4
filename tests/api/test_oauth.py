"""Sign-in with GitHub, OIDC and Linux.do against a mock provider on 127.0.0.1 (real HTTP, Authlib's client).

The browser's part is played by hand: the test client asks Sluice to start, `requests` follows the
redirect to the mock's authorize endpoint (which approves at once and redirects back with code and state),
and the test client brings that callback URL back to Sluice. Everything server-to-server (token exchange,
profile, discovery, keys) is real HTTP from the app to the mock.
"""

from __future__ import annotations

import socket
import time
from datetime import datetime
from urllib.parse import parse_qs, urlencode, urlsplit

import pyotp
import pytest
import requests
from sqlalchemy import select

from app.extensions import db
from app.models import Log, LogType, Role, Setup, User, UserStatus
from app.oauth.oidc import clear_caches
from app.options import options
from app.services import two_factor
from tests.conftest import login_client
from tests.factories import make_user
from tests.fixtures.race import all_at_once
from tests.mock_oauth import MockOAuth

GITHUB = {"GitHubOAuthEnabled": True, "GitHubClientId": "gh-client", "GitHubClientSecret": "gh-secret"}
LINUXDO = {"LinuxDOOAuthEnabled": True, "LinuxDOClientId": "ld-client", "LinuxDOClientSecret": "ld-secret"}
OCTOCAT = {"id": 583231, "login": "octocat", "name": "The Octocat", "email": "octocat@github.example"}


@pytest.fixture(scope="module")
def mock_server():
    with MockOAuth() as server:
        yield server


@pytest.fixture
def mock(mock_server):
    mock_server.reset()
    clear_caches()
    mock_server.register_client("github", "gh-client", "gh-secret")
    mock_server.register_client("oidc", "oidc-client", "oidc-secret")
    mock_server.register_client("linuxdo", "ld-client", "ld-secret")
    mock_server.login_as("github", **OCTOCAT)
    return mock_server


@pytest.fixture
def app_overrides(mock_server):
    return {"OAUTH_GITHUB_BASE": f"{mock_server.url}/gh", "OAUTH_GITHUB_API_BASE": f"{mock_server.url}/gh-api",
            "OAUTH_LINUXDO_BASE": f"{mock_server.url}/ld", "OAUTH_HTTP_TIMEOUT": 5}


@pytest.fixture
def github(app, mock, setup_done):
    options().update(GITHUB)
    return mock


@pytest.fixture
def oidc(app, mock, setup_done):
    options().update({"OIDCEnabled": True, "OIDCClientId": "oidc-client", "OIDCClientSecret": "oidc-secret",
                      "OIDCWellKnown": mock.well_known})
    mock.login_as("oidc", sub="auth0|5f7c8ec7c33c6c004bbafe82", preferred_username="jane.doe", name="Jane Doe",
                  email="jane@idp.example", email_verified=True)
    return mock


# -- helpers ---------------------------------------------------------------------------------------------
def local(url: str) -> str:
    """An absolute URL on the test client's host as the path and query the test client takes."""
    parts = urlsplit(url)
    assert parts.netloc in ("", "localhost"), url
    return parts.path + ("?" + parts.query if parts.query else "")


def to_provider(client, start: str = "/oauth/github") -> str:
    """Start at Sluice; return the provider URL it redirects the browser to."""
    response = client.get(start)
    assert response.status_code == 302, (response.status_code, response.get_data(as_text=True)[:300])
    return response.headers["Location"]


def approve(authorize_url: str) -> str:
    """The browser at the mock provider: it approves and redirects back; return that callback URL."""
    response = requests.get(authorize_url, allow_redirects=False, timeout=5)
    assert response.status_code == 302, (response.status_code, response.text)
    return response.headers["Location"]


def sign_in(client, start: str = "/oauth/github"):
    """The whole browser round trip; the answer of Sluice's callback."""
    return client.get(local(approve(to_provider(client, start))))


def signed_in_as(client) -> str | None:
    response = client.get("/api/user/self")
    return response.get_json()["data"]["username"] if response.status_code == 200 else None


def users() -> list[User]:
    db.session.commit()  # a fresh snapshot (MariaDB's REPEATABLE READ would keep showing the old one)
    return list(db.session.scalars(select(User).order_by(User.id)))


def query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


# -- GitHub: first sign-in, returning users, binding -----------------------------------------------------
def test_first_github_sign_in_registers_a_user_with_the_welcome_quota(client, github, h):
    options().update({"QuotaForNewUser": 5000})
    authorize = to_provider(client, "/oauth/github?next=/console/keys")
    assert authorize.startswith(f"{github.url}/gh/login/oauth/authorize?")
    params = query(authorize)
    assert params["client_id"] == "gh-client" and params["response_type"] == "code"
    assert params["redirect_uri"] == "http://localhost/oauth/github/callback"
    assert params["scope"] == "read:user" and len(params["state"]) >= 32

    response = client.get(local(approve(authorize)))
    assert response.status_code == 302 and response.headers["Location"] == "/console/keys"
    (user,) = users()
    assert (user.username, user.display_name, user.github_id) == ("octocat", "The Octocat", "583231")
    assert user.email == "octocat@github.example" and user.quota == 5000 and user.password == ""
    (welcome,) = db.session.scalars(select(Log).where(Log.user_id == user.id))
    assert welcome.type == LogType.SYSTEM and welcome.quota == 5000
    assert signed_in_as(client) == "octocat"

    token_call = next(seen for seen in github.requests if seen.path == "/gh/login/oauth/access_token")
    assert token_call.form["client_secret"] == "gh-secret" and token_call.form["grant_type"] == "authorization_code"
    assert token_call.form["redirect_uri"] == params["redirect_uri"]
    profile_call = next(seen for seen in github.requests if seen.path == "/gh-api/user")
    assert profile_call.headers["authorization"].startswith("Bearer mock-at-")


def test_a_linked_user_signs_in_with_a_new_session(client, github):
    bob = make_user("bob", github_id="583231")
    with client.session_transaction() as session:
        session["left_over"] = "from before"
    response = sign_in(client)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert signed_in_as(client) == "bob" and len(users()) == 1
    with client.session_transaction() as session:
        assert "left_over" not in session and "oauth" not in session
        assert session["_user_id"] == bob.get_id()


def test_a_callback_works_once(client, github):
    callback = local(approve(to_provider(client)))
    assert client.get(callback).status_code == 302
    client.get("/api/user/logout")
    replay = client.get(callback)
    assert replay.status_code == 403 and "state" in replay.get_data(as_text=True)


def test_new_usernames_are_made_unique_and_clean(client, github):
    make_user("octocat")
    sign_in(client)
    assert [u.username for u in users()] == ["octocat", "octocat_2"]

    github.login_as("github", id=7, login="Ｍｏｎａ　Ｌｉｓａ<script>", name="")
    other = login_client(client.application, users()[0])
    other.get("/api/user/logout")
    sign_in(other)
    newest = users()[-1]
    assert newest.username == "MonaLisascript"
    assert newest.display_name == "Mona Lisa<script>"  # NFKC text; pages escape it like any display name

    github.login_as("github", id=8, login="-", name="n" * 300)
    other.get("/api/user/logout")
    sign_in(other)
    assert (users()[-1].username, users()[-1].display_name) == ("github_user", "n" * 64)
    github.login_as("github", id=9, login="--", name="bell\x07")
    other.get("/api/user/logout")
    sign_in(other)
    assert (users()[-1].username, users()[-1].display_name) == ("github_user_2", "github_user_2")


def test_binding_while_signed_in_links_the_account(app, user, github):
    client = login_client(app, user)
    response = sign_in(client, "/oauth/github?next=/console/profile")
    assert response.status_code == 302 and response.headers["Location"] == "/console/profile"
    assert [(u.username, u.github_id) for u in users()] == [("alice", "583231")]
    assert signed_in_as(client) == "alice"


def test_binding_an_id_that_another_account_holds_is_refused(app, user, github):
    make_user("bob", github_id="583231")
    client = login_client(app, user)
    response = sign_in(client)
    assert response.status_code == 409 and "already linked" in response.get_data(as_text=True)
    assert [(u.username, u.github_id) for u in users()] == [("alice", None), ("bob", "583231")]


def test_a_deleted_holder_still_blocks_binding_and_sign_in(app, user, github):
    make_user("gone", github_id="583231", deleted_at=datetime(2024, 1, 1))
    assert sign_in(login_client(app, user)).status_code == 409
    refused = sign_in(app.test_client())
    assert refused.status_code == 403 and "deleted" in refused.get_data(as_text=True)
    assert len(users()) == 2


# -- refusals --------------------------------------------------------------------------------------------
def test_a_state_that_does_not_match_is_refused_and_creates_nobody(client, github, h):
    callback = approve(to_provider(client))
    params = query(callback)
    forged = f"/oauth/github/callback?{urlencode({'code': params['code'], 'state': 'x' * 43})}"
    response = client.get(forged)
    assert response.status_code == 403 and "<html" in response.get_data(as_text=True)
    assert h.counts() == (0, 0) and signed_in_as(client) is None
    # The code was never swapped: the provider saw no token request.
    assert "/gh/login/oauth/access_token" not in github.paths()


def test_a_callback_without_a_started_flow_is_refused(client, github, h):
    other_browser = client.application.test_client()
    callback = local(approve(to_provider(other_browser)))  # the attacker's own flow
    assert client.get(callback).status_code == 403  # replayed in the victim's browser
    h.envelope_error(client.get("/api/oauth/github?code=abc&state=abc"), 403)
    assert h.counts() == (0, 0)


@pytest.mark.parametrize("missing", ["GitHubOAuthEnabled", "GitHubClientId", "GitHubClientSecret"])
def test_a_provider_that_is_off_or_unconfigured_answers_clearly(client, github, h, missing):
    options().update({missing: False if missing.endswith("Enabled") else ""})
    page = client.get("/oauth/github")
    assert page.status_code == 403 and "not enabled" in page.get_data(as_text=True)
    body = h.envelope_error(client.get("/api/oauth/github?code=x&state=y"), 403)
    assert "GitHub" in body["message"]
    assert "/oauth/github" not in client.get("/login").get_data(as_text=True)
    assert github.requests == []


def test_unknown_providers_are_not_found(client, setup_done, h):
    assert client.get("/oauth/gitlab").status_code == 404
    h.envelope_error(client.get("/api/oauth/gitlab?code=x&state=y"), 404)


def test_first_sign_in_is_refused_when_registration_is_closed(client, github, h):
    options().update({"RegisterEnabled": False})
    response = sign_in(client)
    assert response.status_code == 403 and "registrations are closed" in response.get_data(as_text=True)
    assert h.counts() == (0, 0) and signed_in_as(client) is None
    make_user("bob", github_id="583231")  # an existing link still signs in
    assert sign_in(client).status_code == 302 and signed_in_as(client) == "bob"


def test_a_disabled_user_cannot_sign_in(client, github):
    make_user("bob", github_id="583231", status=UserStatus.DISABLED)
    response = sign_in(client)
    assert response.status_code == 403 and "disabled" in response.get_data(as_text=True)
    assert signed_in_as(client) is None


def test_the_user_cancelling_at_the_provider_is_a_readable_error(client, github, h):
    github.deny("github")
    response = sign_in(client)
    assert response.status_code == 400 and "denied" in response.get_data(as_text=True)
    assert h.counts() == (0, 0) and "/gh/login/oauth/access_token" not in github.paths()


def test_a_code_the_provider_refuses_is_a_readable_error(client, github, h):
    callback = local(approve(to_provider(client)))
    code = query(callback)["code"]
    github.codes.pop(code)  # expired at GitHub meanwhile
    response = client.get(callback)
    assert response.status_code == 400 and "refused the sign-in code" in response.get_data(as_text=True)
    assert h.counts() == (0, 0)


def test_an_unreachable_provider_is_a_502(app, client, github, h):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    callback = local(approve(to_provider(client)))
    app.config["OAUTH_GITHUB_BASE"] = closed
    response = client.get(callback)
    assert response.status_code == 502 and "could not reach GitHub" in response.get_data(as_text=True)
    assert h.counts() == (0, 0)


# -- new-api's JSON flow ---------------------------------------------------------------------------------
def test_new_api_state_then_json_callback(client, github):
    inviter = make_user("inviter", aff_code="INVITE42")
    options().update({"QuotaForInvitee": 70})
    state = client.get("/api/oauth/state?aff=INVITE42").get_json()["data"]
    # The front end builds GitHub's URL itself (no redirect_uri: GitHub uses the app's registered one).
    callback = approve(f"{github.url}/gh/login/oauth/authorize?client_id=gh-client&state={state}&scope=user:email")
    assert urlsplit(callback).path == "/oauth/github"
    params = query(callback)
    response = client.get(f"/api/oauth/github?code={params['code']}&state={params['state']}")
    body = response.get_json()
    assert response.status_code == 200 and body["success"] is True
    assert body["data"]["username"] == "octocat" and set(body["data"]) == {
        "id", "username", "display_name", "role", "status", "group"}
    octocat = users()[-1]
    assert octocat.inviter_id == inviter.id and octocat.quota == 70
    assert signed_in_as(client) == "octocat"


def test_new_api_json_bind_answers_bind(app, user, github):
    client = login_client(app, user)
    state = client.get("/api/oauth/state").get_json()["data"]
    params = query(approve(f"{github.url}/gh/login/oauth/authorize?client_id=gh-client&state={state}"))
    body = client.get(f"/api/oauth/github?code={params['code']}&state={params['state']}").get_json()
    assert body == {"success": True, "message": "bind", "data": None}
    assert users()[0].github_id == "583231"


def test_the_legacy_callback_path_finishes_a_flow_too(client, github):
    state = client.get("/api/oauth/state").get_json()["data"]
    callback = approve(f"{github.url}/gh/login/oauth/authorize?client_id=gh-client&state={state}")
    response = client.get(local(callback))  # /oauth/github?code=&state=, new-api's registered callback
    assert response.status_code == 302 and signed_in_as(client) == "octocat"


# -- OIDC ------------------------------------------------------------------------------------------------
def test_oidc_discovery_flow_with_a_verified_id_token(client, oidc):
    authorize = to_provider(client, "/oauth/oidc")
    assert authorize.startswith(f"{oidc.issuer}/authorize?")
    params = query(authorize)
    assert params["scope"] == "openid profile email" and params["nonce"]
    assert params["redirect_uri"] == "http://localhost/oauth/oidc/callback"
    response = client.get(local(approve(authorize)))
    assert response.status_code == 302
    (jane,) = users()
    assert jane.oidc_id == "auth0|5f7c8ec7c33c6c004bbafe82" and jane.username == "jane.doe"
    assert jane.display_name == "Jane Doe" and jane.email == "jane@idp.example"
    assert signed_in_as(client) == "jane.doe"
    paths = oidc.paths()
    assert paths.index("/oidc/.well-known/openid-configuration") < paths.index("/oidc/authorize")
    assert {"/oidc/token", "/oidc/jwks", "/oidc/userinfo"} <= set(paths)
    token_call = next(seen for seen in oidc.requests if seen.path == "/oidc/token")
    assert token_call.headers["authorization"].startswith("Basic ")  # the spec's default client auth
    assert "client_secret" not in token_call.form


def test_oidc_unverified_email_is_not_kept(client, oidc):
    oidc.login_as("oidc", sub="u-2", name="No Mail", email="someone@else.example", email_verified=False)
    sign_in(client, "/oauth/oidc")
    (user,) = users()
    assert user.email is None and user.username == "NoMail"


@pytest.mark.parametrize("fault", [{"wrong_key": True}, {"nonce": "replayed"}, {"aud": "someone-else"},
                                   {"iss": "https://evil.example"}, {"exp": 1000}])
def test_oidc_id_tokens_that_do_not_check_out_are_refused(client, oidc, h, fault):
    oidc.fault_id_token(**fault)
    response = sign_in(client, "/oauth/oidc")
    assert response.status_code == 400 and "ID token" in response.get_data(as_text=True)
    assert h.counts() == (0, 0)


def test_oidc_userinfo_about_someone_else_is_refused(client, oidc, h):
    oidc.login_as("oidc", sub="u-1", userinfo_sub="u-2", preferred_username="x")
    response = sign_in(client, "/oauth/oidc")
    assert response.status_code == 400 and h.counts() == (0, 0)


def test_oidc_needs_its_discovery_url(client, oidc):
    options().update({"OIDCWellKnown": ""})
    assert client.get("/oauth/oidc").status_code == 403


# -- Linux.do --------------------------------------------------------------------------------------------
def test_linuxdo_sign_in_uses_basic_auth_and_numeric_ids(client, mock, setup_done):
    options().update(LINUXDO)
    mock.login_as("linuxdo", id=4242, username="neo", name="Thomas A.", trust_level=2)
    authorize = to_provider(client, "/oauth/linuxdo")
    assert authorize.startswith(f"{mock.url}/ld/oauth2/authorize?") and "scope" not in query(authorize)
    assert client.get(local(approve(authorize))).status_code == 302
    (neo,) = users()
    assert (neo.username, neo.linux_do_id, neo.display_name) == ("neo", "4242", "Thomas A.")
    token_call = next(seen for seen in mock.requests if seen.path == "/ld/oauth2/token")
    assert token_call.headers["authorization"].startswith("Basic ") and "client_secret" not in token_call.form


def test_inactive_linuxdo_accounts_are_refused(client, mock, setup_done, h):
    options().update(LINUXDO)
    mock.login_as("linuxdo", id=5, username="ghost", active=False)
    assert sign_in(client, "/oauth/linuxdo").status_code == 400 and h.counts() == (0, 0)


# -- the login page --------------------------------------------------------------------------------------
def test_login_page_offers_each_enabled_provider(client, github):
    options().update(LINUXDO)
    body = client.get("/login?next=/console/logs").get_data(as_text=True)
    assert 'href="/oauth/github?next=/console/logs"' in body
    assert 'href="/oauth/linuxdo?next=/console/logs"' in body
    assert "/oauth/oidc" not in body


# -- concurrency -----------------------------------------------------------------------------------------
@pytest.fixture
def backend_app(race_app, mock):
    """The app on each database (PostgreSQL and MariaDB start on first use; skipped where not installed)."""
    db.session.add(Setup(id=1, is_setup=True, version="test"))
    db.session.commit()
    options().update(GITHUB)
    return race_app


def test_parallel_first_sign_ins_of_one_account_make_one_user(backend_app):
    # With the plain names taken, each request draws a random suffix: only the sign-up lock keeps them from
    # making one user each.
    taken = ["octocat"] + [f"octocat_{n}" for n in range(2, 7)]
    for name in taken:
        make_user(name)
    callers = 8
    clients = [backend_app.test_client() for _ in range(callers)]
    callbacks = [local(approve(to_provider(c))) for c in clients]  # 8 browsers, 8 codes, one GitHub account
    statuses = all_at_once(callers, lambda i: clients[i].get(callbacks[i]).status_code)
    assert statuses == [302] * callers
    linked = [u for u in users() if u.github_id == "583231"]
    assert len(linked) == 1 and len(users()) == len(taken) + 1
    assert {signed_in_as(c) for c in clients} == {linked[0].username}


def test_parallel_binds_of_one_account_link_it_once(backend_app):
    people = [make_user(f"person{i}") for i in range(6)]
    clients = [login_client(backend_app, person) for person in people]
    callbacks = [local(approve(to_provider(c))) for c in clients]
    statuses = all_at_once(len(clients), lambda i: clients[i].get(callbacks[i]).status_code)
    assert sorted(statuses) == [302] + [409] * (len(clients) - 1)
    assert len([u for u in users() if u.github_id == "583231"]) == 1


# -- binding and unbinding from the profile page, the API and the admin user editor ----------------------
HX = {"HX-Request": "true"}


def fresh(user_id: int) -> User:
    db.session.commit()
    return db.session.get(User, user_id)


def unbind_page(client, provider: str, **headers):
    return client.post(f"/console/profile/oauth/{provider}/unbind", headers={**HX, **headers})


def test_profile_offers_bind_for_each_enabled_provider(app, user, github, mock):
    options().update(LINUXDO)
    body = login_client(app, user).get("/console/profile").get_data(as_text=True)
    card = body[body.index('data-testid="oauth-bindings"'):]
    assert 'href="/oauth/github?next=/console/profile"' in card
    assert 'href="/oauth/linuxdo?next=/console/profile"' in card
    assert "/oauth/oidc" not in card  # not configured, not linked: not offered
    assert card.count(">Bind<") == 2 and "Unbind" not in card.split("</ul>")[0]
    assert "<script" not in card


def test_bind_from_the_profile_then_sign_in_with_it(app, user, github):
    client = login_client(app, user)
    start = "/oauth/github?next=/console/profile"
    assert start in client.get("/console/profile").get_data(as_text=True)
    response = sign_in(client, start)
    assert response.status_code == 302 and response.headers["Location"] == "/console/profile"
    page = client.get("/console/profile").get_data(as_text=True)
    assert "Linked (ID 583231)" in page and "is now linked" in page  # the flash
    assert fresh(user.id).github_id == "583231"
    # A new browser signs in with GitHub: the bound account, no new user.
    browser = app.test_client()
    assert sign_in(browser).status_code == 302
    assert signed_in_as(browser) == "alice" and len(users()) == 1


def test_binding_an_id_someone_else_holds_says_so_and_changes_nothing(app, user, github):
    bob = make_user("bob", github_id="583231")
    response = sign_in(login_client(app, user), "/oauth/github?next=/console/profile")
    assert response.status_code == 409
    assert "this GitHub account is already linked to another user" in response.get_data(as_text=True)
    assert fresh(user.id).github_id is None and fresh(bob.id).github_id == "583231"


def test_a_forged_state_binds_nothing(app, user, github):
    """The attacker's own callback, replayed in the victim's signed-in browser, must not link the attacker's
    GitHub account to the victim (the state is tied to the session that started the flow)."""
    attacker = app.test_client()
    callback = local(approve(to_provider(attacker)))
    victim = login_client(app, user)
    victim.get("/oauth/github")  # even with a flow of its own under way
    assert victim.get(callback).status_code == 403
    assert fresh(user.id).github_id is None
    assert "/gh/login/oauth/access_token" not in github.paths()


def test_unbind_with_a_password_to_fall_back_on(app, user, github):
    user.github_id = "583231"
    db.session.commit()
    client = login_client(app, user)
    response = unbind_page(client, "github")
    assert response.status_code == 200
    assert "no longer linked" in response.headers["HX-Trigger"]
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<div id="oauth-bindings"') and ">Bind<" in body
    assert fresh(user.id).github_id is None
    # The GitHub account is free again: signing in with it now registers a new user.
    browser = app.test_client()
    sign_in(browser)
    assert signed_in_as(browser) == "octocat"


@pytest.mark.parametrize("situation", ["no password", "password login off", "other provider off"])
def test_unbind_refuses_to_remove_the_last_way_in(app, user, github, h, situation):
    options().update(LINUXDO)
    user.github_id = "583231"
    if situation == "no password":
        user.password = ""  # an account made by an OAuth sign-up
    elif situation == "password login off":
        options().update({"PasswordLoginEnabled": False})
    else:
        user.password = ""
        user.linux_do_id = "42"
        options().update({"LinuxDOOAuthEnabled": False})
    db.session.commit()
    client = login_client(app, user)
    page = unbind_page(client, "github")
    assert page.status_code == 422 and "only way to sign in" in page.get_data(as_text=True)
    h.envelope_error(client.delete("/api/user/oauth/github"), 403)
    assert fresh(user.id).github_id == "583231"


def test_an_oauth_only_account_can_drop_one_of_two_providers(app, user, github):
    options().update(LINUXDO)
    user.password, user.github_id, user.linux_do_id = "", "583231", "42"
    db.session.commit()
    client = login_client(app, user)
    answer = client.delete("/api/user/oauth/github").get_json()
    assert answer["success"] is True
    assert {b["name"]: b["subject"] for b in answer["data"]} == {"github": "", "oidc": "", "linuxdo": "42",
                                                               "telegram": "", "wechat": ""}
    assert client.delete("/api/user/oauth/linuxdo").status_code == 403
    assert (fresh(user.id).github_id, fresh(user.id).linux_do_id) == (None, "42")


def test_unbind_of_what_is_not_linked_or_unknown(app, user, github, h):
    client = login_client(app, user)
    h.envelope_error(client.delete("/api/user/oauth/github"), 409)
    assert "not linked" in unbind_page(client, "github").get_data(as_text=True)
    h.envelope_error(client.delete("/api/user/oauth/myspace"), 404)
    assert unbind_page(client, "myspace").status_code == 404
    h.envelope_error(app.test_client().delete("/api/user/oauth/github"), 401)


@pytest.mark.parametrize("app_overrides", [{"WTF_CSRF_ENABLED": True}])
def test_unbind_needs_the_csrf_token(app, user, github):
    user.github_id = "583231"
    db.session.commit()
    client = login_client(app, user)
    page = client.get("/console/profile").get_data(as_text=True)
    token = page.split('"X-CSRFToken": "')[1].split('"')[0]
    assert unbind_page(client, "github").status_code == 400
    assert client.delete("/api/user/oauth/github").status_code == 400
    assert fresh(user.id).github_id == "583231"
    assert unbind_page(client, "github", **{"X-CSRFToken": token}).status_code == 200
    assert fresh(user.id).github_id is None


def test_admin_editor_shows_and_clears_links(app, user, github, admin_client):
    user.password, user.github_id, user.linux_do_id = "", "583231", "42"
    db.session.commit()
    editor = admin_client.get(f"/admin/users/{user.id}/edit", headers=HX).get_data(as_text=True)
    section = editor[editor.index('data-testid="user-oauth-bindings"'):]
    assert "<code" in section and "583231" in section and "42" in section
    # The admin may remove even the last way in (and then set a password in the same editor).
    response = admin_client.post(f"/admin/users/{user.id}/oauth/github/clear", headers=HX)
    assert response.status_code == 200 and "was removed" in response.headers["HX-Trigger"]
    assert "583231" not in response.get_data(as_text=True)
    answer = admin_client.delete(f"/api/user/{user.id}/oauth/linuxdo").get_json()
    assert answer["success"] is True
    assert (fresh(user.id).github_id, fresh(user.id).linux_do_id) == (None, None)
    again = admin_client.post(f"/admin/users/{user.id}/oauth/github/clear", headers=HX)
    assert again.status_code == 422 and "not linked" in again.get_data(as_text=True)


def test_admins_clear_links_only_of_users_they_manage(app, github, h):
    first = make_user("admin1", role=Role.ADMIN, github_id="583231")
    second = make_user("admin2", role=Role.ADMIN)
    client = login_client(app, second)
    h.envelope_error(client.delete(f"/api/user/{first.id}/oauth/github"), 403)
    assert client.post(f"/admin/users/{first.id}/oauth/github/clear", headers=HX).status_code == 403
    h.envelope_error(login_client(app, make_user("plain")).delete(f"/api/user/{first.id}/oauth/github"), 403)
    assert fresh(first.id).github_id == "583231"


def test_parallel_unbinds_keep_one_way_in(backend_app):
    options().update(LINUXDO)
    person = make_user("both", github_id="583231", linux_do_id="42")
    person.password = ""
    db.session.commit()
    clients = [login_client(backend_app, person) for _ in range(2)]
    providers = ["github", "linuxdo"]
    statuses = all_at_once(2, lambda i: clients[i].delete(f"/api/user/oauth/{providers[i]}").status_code)
    assert sorted(statuses) == [200, 403]
    left = fresh(person.id)
    assert [left.github_id, left.linux_do_id].count(None) == 1


def test_an_account_imported_with_a_github_login_is_rekeyed_at_its_first_sign_in(app, github):
    """one-api kept GitHub's login in github_id; the imported account signs in and gets the numeric id."""
    imported = make_user("olduser", github_id="octocat")
    browser = app.test_client()
    assert sign_in(browser).status_code == 302
    assert signed_in_as(browser) == "olduser" and len(users()) == 1
    assert fresh(imported.id).github_id == "583231"
    again = app.test_client()
    sign_in(again)
    assert signed_in_as(again) == "olduser"


def test_a_legacy_login_held_by_someone_else_blocks_binding(app, user, github):
    holder = make_user("olduser", github_id="octocat")
    response = sign_in(login_client(app, user))
    assert response.status_code == 409
    assert (fresh(user.id).github_id, fresh(holder.id).github_id) == (None, "octocat")


def test_binding_rekeys_ones_own_legacy_login(app, user, github):
    user.github_id = "octocat"
    db.session.commit()
    assert sign_in(login_client(app, user), "/oauth/github?next=/console/profile").status_code == 302
    assert fresh(user.id).github_id == "583231"


# -- two-factor authentication: OAuth is a first factor only -------------------------------------------
def _two_fa_user(app, name: str = "bob", **fields) -> tuple[User, str]:
    user = make_user(name, **fields)
    with app.test_request_context():
        secret = two_factor.setup(user)["secret"]
        two_factor.enable(user, pyotp.TOTP(secret).at(time.time() - 30))
    return user, secret


def test_oauth_page_sign_in_of_a_2fa_user_asks_for_the_code(app, client, github):
    _user, secret = _two_fa_user(app, github_id="583231")
    response = sign_in(client, "/oauth/github?next=/console/keys")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login/2fa")
    assert signed_in_as(client) is None
    done = client.post("/login/2fa", data={"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 302 and done.headers["Location"] == "/console/keys"
    assert signed_in_as(client) == "bob"


def test_oauth_json_sign_in_of_a_2fa_user_answers_require_2fa(app, client, github):
    _user, secret = _two_fa_user(app, github_id="583231")
    state = client.get("/api/oauth/state").get_json()["data"]
    params = query(approve(f"{github.url}/gh/login/oauth/authorize?client_id=gh-client&state={state}"))
    body = client.get(f"/api/oauth/github?code={params['code']}&state={params['state']}").get_json()
    assert body["success"] is True and body["data"] == {"require_2fa": True}
    assert signed_in_as(client) is None
    assert client.post("/api/user/login/2fa", json={"code": pyotp.TOTP(secret).now()}).status_code == 200
    assert signed_in_as(client) == "bob"
