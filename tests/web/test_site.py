"""Public pages, the layout every page shares, the language switch and the security headers."""

from __future__ import annotations

from app.options import options
from tests.web.conftest import full


def test_home_renders_default_introduction(client):
    body = full(client, "/")
    assert 'hx-headers=\'{"X-CSRFToken": "' in body
    assert "/static/vendor/htmx.min.js" in body and "/static/js/app.js" in body
    assert "<script>" not in body and " onclick=" not in body


def test_home_page_content_is_markdown_without_scripts(client):
    options().update({"HomePageContent": "# Welcome\n\n<img src=x onerror=alert(1)> <script>alert(2)</script>"
                                         "\n\n[bad](javascript:alert(3)) [good](https://example.com)"})
    body = full(client, "/")
    assert "<h1>Welcome</h1>" in body
    assert "onerror" not in body and "alert(2)" not in body
    assert "javascript:" not in body
    assert 'href="https://example.com"' in body


def test_csp_forbids_inline_scripts(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    script_src = next(part for part in csp.split(";") if part.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src


def test_language_switch_sets_cookie_and_goes_back(client):
    response = client.get("/lang/zh_CN?next=/pricing")
    assert response.status_code == 302
    assert response.headers["Location"] == "/pricing"
    assert "lang=zh_CN" in response.headers["Set-Cookie"]
    body = full(client, "/")
    assert '<html lang="zh-CN">' in body


def test_language_switch_refuses_other_sites(client):
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example", "/\tevil", "/\x7f"):
        response = client.get("/lang/en", query_string={"next": target})
        assert response.headers["Location"] == "/"


def test_accept_language_picks_chinese(client):
    body = client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).get_data(as_text=True)
    assert '<html lang="zh-CN">' in body


def test_unknown_page_is_an_html_page_and_a_fragment_for_htmx(client):
    body = full(client, "/no-such-page", status=404)
    assert 'role="alert"' in body
    response = client.get("/no-such-page", headers={"HX-Request": "true"})
    assert response.status_code == 404
    assert "<html" not in response.get_data(as_text=True)
