"""The API keys page: full page and fragments, create with a one-time reveal, edit, status, delete."""

from __future__ import annotations

from app.models import Token, TokenStatus
from app.services import tokens
from tests.web.conftest import HX, fragment, full


def _make_key(user, name="k1"):
    token, key = tokens.create_token(user, {"name": name})
    return token, key


def test_keys_page_needs_a_signed_in_user(client):
    response = client.get("/console/keys")
    assert response.status_code == 302 and "/login?next=/console/keys" in response.headers["Location"]


def test_keys_page_full_and_fragment(user_client, user):
    token, key = _make_key(user, "alpha")
    body = full(user_client, "/console/keys")
    assert "alpha" in body and token.masked_key in body and key not in body
    assert 'id="key-create"' in body
    part = fragment(user_client, "/console/keys?q=alph")
    assert part.lstrip().startswith('<div id="key-list"') and "alpha" in part
    assert "No key matches" in fragment(user_client, "/console/keys?q=zzz")


def test_create_shows_the_key_once(user_client, user):
    response = user_client.post("/console/keys", data={"name": "new", "unlimited_quota": "on"}, headers=HX)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    row = Token.query.filter_by(name="new").one()
    assert '<section id="key-create"' in body and "<html" not in body
    assert "keys-changed" in response.headers["HX-Trigger"] and "toast" in response.headers["HX-Trigger"]
    start = body.index('value="sk-') + 7
    key = body[start:start + 51]
    assert row.key_hash != key and key.startswith("sk-")
    assert key not in full(user_client, "/console/keys")


def test_create_without_htmx_renders_the_page_with_the_key(user_client):
    response = user_client.post("/console/keys", data={"name": "plain", "remain_quota": "1.5"})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "<html" in body and 'data-testid="key-reveal"' in body
    assert Token.query.filter_by(name="plain").one().remain_quota == 750000  # $1.5 at 500,000 per dollar


def test_create_error_rerenders_the_form_with_422(user_client):
    response = user_client.post("/console/keys", data={"name": "x", "allow_ips": "not-an-ip"}, headers=HX)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert 'role="alert"' in body and "not-an-ip" in body


def test_edit_page_and_fragment_then_save(user_client, user):
    token, _ = _make_key(user, "before")
    url = f"/console/keys/{token.id}/edit"
    assert 'value="before"' in full(user_client, url)
    part = fragment(user_client, url)
    assert part.lstrip().startswith("<form") and 'value="before"' in part
    response = user_client.post(f"/console/keys/{token.id}", data={"name": "after", "unlimited_quota": "on"},
                                headers=HX)
    assert response.status_code == 200 and "keys-changed" in response.headers["HX-Trigger"]
    assert tokens.get_token(user.id, token.id).name == "after"
    plain = user_client.post(f"/console/keys/{token.id}", data={"name": "again", "unlimited_quota": "on"})
    assert plain.status_code == 302 and plain.headers["Location"].endswith("/console/keys")


def test_disable_swaps_the_row(user_client, user):
    token, _ = _make_key(user)
    response = user_client.post(f"/console/keys/{token.id}/status", data={"status": "2"}, headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and body.lstrip().startswith("<tr") and "Enable" in body
    assert tokens.get_token(user.id, token.id).status == TokenStatus.DISABLED


def test_delete_removes_the_row(user_client, user):
    token, _ = _make_key(user)
    response = user_client.post(f"/console/keys/{token.id}/delete", headers=HX)
    assert response.status_code == 200 and response.get_data(as_text=True) == ""
    assert "keys-changed" in response.headers["HX-Trigger"]
    assert full(user_client, "/console/keys").count("<tr id=\"key-") == 0


def test_someone_elses_key_is_not_found(user_client, admin_user):
    token, _ = _make_key(admin_user)
    assert user_client.get(f"/console/keys/{token.id}/edit").status_code == 404
    assert user_client.post(f"/console/keys/{token.id}/delete", headers=HX).status_code == 404


def test_editing_keeps_an_expiry_whose_day_was_not_changed(user_client, user):
    import time

    from app.web.forms import date_input

    expiry = int(time.time()) + 3 * 86400 + 17
    token, _ = tokens.create_token(user, {"name": "exp", "expired_time": expiry})
    with user_client.application.test_request_context():
        day = date_input(expiry)
    response = user_client.post(f"/console/keys/{token.id}", headers=HX,
                                data={"name": "exp", "expires": day, "unlimited_quota": "on"})
    assert response.status_code == 200
    assert tokens.get_token(user.id, token.id).expired_time == expiry
