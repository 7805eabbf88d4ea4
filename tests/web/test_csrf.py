"""CSRF on pages: a session-cookie POST needs the token, from the hidden field or the HTMX header."""

from __future__ import annotations

import re

import pytest

from app.models import Token


@pytest.fixture
def app_overrides():
    return {"WTF_CSRF_ENABLED": True}


def _token(body: str) -> str:
    return re.search(r'"X-CSRFToken": "([^"]+)"', body).group(1)


def test_post_without_token_is_refused(user_client):
    user_client.get("/console/keys")
    response = user_client.post("/console/keys", data={"name": "x"}, headers={"HX-Request": "true"})
    assert response.status_code == 400 and "CSRF" in response.get_data(as_text=True)
    assert Token.query.count() == 0


def test_htmx_header_and_hidden_field_both_work(user_client):
    body = user_client.get("/console/keys").get_data(as_text=True)
    token = _token(body)
    assert f'name="csrf_token" value="{token}"' in body
    by_header = user_client.post("/console/keys", data={"name": "a", "unlimited_quota": "on"},
                                 headers={"HX-Request": "true", "X-CSRFToken": token})
    by_field = user_client.post("/console/keys", data={"name": "b", "unlimited_quota": "on", "csrf_token": token})
    assert by_header.status_code == 200 and by_field.status_code == 200
    assert Token.query.count() == 2
