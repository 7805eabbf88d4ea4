"""The profile page: display name, password change, access token shown once."""

from __future__ import annotations

from app.extensions import db
from app.security import hash_secret
from tests.web.conftest import HX, full


def test_profile_page(user_client, user):
    body = full(user_client, "/console/profile")
    assert user.username in body and 'name="display_name"' in body


def test_display_name_is_saved_and_escaped(user_client, user):
    response = user_client.post("/console/profile", data={"display_name": "<b>Al</b>"}, headers=HX)
    assert response.status_code == 200 and "toast" in response.headers["HX-Trigger"]
    body = full(user_client, "/console/profile")
    assert "&lt;b&gt;Al&lt;/b&gt;" in body and "<b>Al</b>" not in body


def test_password_change_keeps_this_session(user_client, user):
    response = user_client.post("/console/profile/password", headers=HX, data={
        "original_password": "password123", "password": "new-password-9", "confirm_password": "new-password-9"})
    assert response.status_code == 200
    assert full(user_client, "/console/profile")  # still signed in after session_version moved


def test_wrong_password_is_a_422_form(user_client):
    response = user_client.post("/console/profile/password", headers=HX, data={
        "original_password": "nope-nope", "password": "new-password-9", "confirm_password": "new-password-9"})
    assert response.status_code == 422 and 'role="alert"' in response.get_data(as_text=True)


def test_access_token_is_shown_once(user_client, user):
    response = user_client.post("/console/profile/token", headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and 'data-testid="access-token-reveal"' in body
    start = body.index('readonly value="') + len('readonly value="')
    token = body[start:body.index('"', start)]
    db.session.refresh(user)
    assert user.access_token_hash == hash_secret(token)
    assert token not in full(user_client, "/console/profile")
