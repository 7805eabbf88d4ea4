"""app.relay.http: the direct path (straight to the session adapter's urllib3 pool) sends and fails exactly as
the full `requests` path does, and no upstream cookie is ever kept."""

from __future__ import annotations

import json

import pytest
import requests

from app.relay import http
from app.relay.types import UpstreamRequest
from tests.mock_upstream import Behaviour

BODY = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}).encode()
HEADERS = {"Authorization": "Bearer sk-upstream-good", "Content-Type": "application/json"}


def _via_requests(req: UpstreamRequest, connect: float = 5, read: float = 5) -> requests.Response:
    return http.session().request(req.method, req.url, headers=req.headers, data=req.data, stream=req.stream,
                                  timeout=(connect, read), allow_redirects=False)


def test_direct_path_sends_what_requests_sends(mock_upstream):
    req = UpstreamRequest("POST", mock_upstream.base_url + "/chat/completions?x=1", HEADERS, data=BODY)
    direct = http.send(req, connect_timeout=5, read_timeout=5)
    sent_direct = mock_upstream.last_request
    full = _via_requests(req)
    sent_full = mock_upstream.last_request
    assert direct.status_code == full.status_code == 200
    assert json.loads(direct.content)["usage"] == json.loads(full.content)["usage"]
    assert direct.headers["content-type"] == full.headers["Content-Type"]
    assert direct.encoding == full.encoding and direct.json()["choices"] == full.json()["choices"]
    assert (sent_direct.method, sent_direct.path, sent_direct.query, sent_direct.body) == \
        (sent_full.method, sent_full.path, sent_full.query, sent_full.body)
    assert sent_direct.headers == sent_full.headers


def test_direct_path_streams_and_reuses_the_connection(mock_upstream):
    req = UpstreamRequest("POST", mock_upstream.base_url + "/chat/completions", HEADERS,
                          data=BODY.replace(b'"}]}', b'"}],"stream":true}'), stream=True)
    for _ in range(3):
        response = http.send(req, connect_timeout=5, read_timeout=5)
        body = http.Body(response)
        data = b"".join(body)
        http.close(response, body)
        assert data.rstrip().endswith(b"data: [DONE]")
    class _Url:
        url = mock_upstream.base_url
    pool = http._current()[2].get_connection_with_tls_context(_Url(), True, None, None)
    assert pool.num_connections == 1


def test_errors_are_requests_exceptions(mock_upstream):
    refused = UpstreamRequest("GET", "http://127.0.0.1:1/v1/models", {})
    with pytest.raises(requests.ConnectionError):
        http.send(refused, connect_timeout=1, read_timeout=1)
    mock_upstream.enqueue(Behaviour(first_byte_delay=1.0))
    slow = UpstreamRequest("POST", mock_upstream.base_url + "/chat/completions", HEADERS, data=BODY)
    with pytest.raises(requests.ReadTimeout):
        http.send(slow, connect_timeout=1, read_timeout=0.2)
    bad_header = UpstreamRequest("GET", mock_upstream.base_url + "/models", {"X-Custom": "a\nb"})
    with pytest.raises(requests.exceptions.InvalidHeader):
        http.send(bad_header, connect_timeout=1, read_timeout=1)


def test_unusual_urls_take_the_requests_path(mock_upstream):
    """A URL requests would rewrite (here: a space it percent-encodes) goes through requests unchanged."""
    req = UpstreamRequest("GET", mock_upstream.base_url + "/models/my model", HEADERS)
    http.send(req, connect_timeout=5, read_timeout=5)
    assert mock_upstream.last_request.path == "/v1/models/my model"


def test_upstream_cookies_are_never_kept(mock_upstream):
    mock_upstream.enqueue(Behaviour(headers={"Set-Cookie": "sticky=user-a; Path=/"}),
                          Behaviour(headers={"Set-Cookie": "sticky=user-a; Path=/"}))
    req = UpstreamRequest("POST", mock_upstream.base_url + "/chat/completions", HEADERS, data=BODY)
    http.send(req, connect_timeout=5, read_timeout=5)
    http.send(req, connect_timeout=5, read_timeout=5)
    assert "cookie" not in mock_upstream.last_request.headers
    plain = UpstreamRequest("GET", mock_upstream.base_url + "/models/a b", HEADERS)  # the requests path
    http.send(plain, connect_timeout=5, read_timeout=5)
    assert "cookie" not in mock_upstream.last_request.headers
    assert len(http.session().cookies) == 0
