"""Every page, for every role: the right one gets the page (and its fragment), the others are sent to the
login page (signed out) or refused with 403 (a page, or a bare fragment for HTMX). Every page keeps to the
CSP: no inline scripts, no inline event handlers."""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import HX

PUBLIC = ["/", "/pricing"]
USER = ["/console", "/console/keys", "/console/logs", "/console/tasks", "/console/wallet", "/console/profile"]
ADMIN = ["/admin/channels", "/admin/channels/new", "/admin/users", "/admin/redemptions", "/admin/logs",
         "/admin/tasks"]
ROOT = ["/admin/settings"]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)


def _clean(body: str) -> None:
    assert not INLINE_SCRIPT.search(body), INLINE_SCRIPT.search(body).group(0)
    assert not INLINE_HANDLER.search(body), INLINE_HANDLER.search(body).group(0)


@pytest.mark.parametrize("url", PUBLIC + USER + ADMIN + ROOT)
def test_root_gets_every_page_without_inline_script(root_client, url):
    response = root_client.get(url)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert body.startswith("<!doctype html>")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    _clean(body)
    fragment = root_client.get(url, headers=HX)
    assert fragment.status_code == 200
    _clean(fragment.get_data(as_text=True))


@pytest.mark.parametrize("url", USER + ADMIN + ROOT)
def test_signed_out_visitors_go_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=" + url.split("?")[0])


@pytest.mark.parametrize("url", ADMIN + ROOT)
def test_users_are_refused_admin_pages(user_client, url):
    assert user_client.get(url).status_code == 403
    response = user_client.get(url, headers=HX)
    assert response.status_code == 403 and "<html" not in response.get_data(as_text=True)


@pytest.mark.parametrize("url", ROOT)
def test_admins_are_refused_root_pages(admin_client, url):
    assert admin_client.get(url).status_code == 403


@pytest.mark.parametrize("url", PUBLIC + USER)
def test_users_get_their_pages(user_client, url):
    assert user_client.get(url).status_code == 200


def test_boosted_and_history_restore_requests_get_the_full_page(user_client):
    for headers in ({"HX-Request": "true", "HX-Boosted": "true"},
                    {"HX-Request": "true", "HX-History-Restore-Request": "true"}):
        assert "<html" in user_client.get("/console/keys", headers=headers).get_data(as_text=True)
