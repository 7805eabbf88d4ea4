"""Page tests: the app with setup done, and helpers to request a page in full and as an HTMX fragment."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import Setup

HX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def setup_done(app):
    """Pages redirect to /setup until a root user exists; page tests start after that."""
    db.session.add(Setup(id=1, is_setup=True, version="test"))
    db.session.commit()


def full(client, url: str, status: int = 200):
    """GET `url` as a browser would; the answer must be a whole HTML page."""
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    body = response.get_data(as_text=True)
    assert "<html" in body and "</html>" in body
    return body


def fragment(client, url: str, status: int = 200):
    """GET `url` as an HTMX swap; the answer must be a fragment, not a page."""
    response = client.get(url, headers=HX)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    body = response.get_data(as_text=True)
    assert "<html" not in body and "<nav class=\"navbar" not in body
    assert "HX-Request" in response.headers.get("Vary", "")
    return body
