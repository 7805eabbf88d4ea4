"""The one HTTP helper every adaptor's request goes through: a pooled `requests.Session` per process.

Blocking `requests` calls are what gevent workers patch into cooperative ones; under gthread they
block one thread. The session ignores proxy/netrc environment variables (`trust_env=False`): looking
them up costs about 0.1 ms per request, and a channel that needs a proxy names it in its settings.
Streams are read with `iter_raw`, which yields each HTTP chunk as it arrives (never waiting to fill a
buffer), so the relay passes events on with no added latency.

Direct path: a request without files or a proxy, whose URL is plain ASCII that `requests` would send
unchanged, skips the Session's per-request machinery (setting merges, hooks, cookie jars, redirect
bookkeeping: about 0.13 ms of CPU, half of what `requests` costs per call) and goes straight to the
same urllib3 connection pool through the session's own adapter, with requests' header checks and its
mapping of urllib3 errors to `requests` exceptions, and hands back a `requests.Response` as before.
Upstream cookies are never kept: the session is shared by every user, so a cookie one upstream answer
sets must not ride along on another user's request (the session's jar refuses them on the other path).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from http.cookiejar import DefaultCookiePolicy
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.exceptions import (
    ChunkedEncodingError,
    ConnectTimeout,
    ContentDecodingError,
    InvalidHeader,
    InvalidURL,
    ProxyError,
    ReadTimeout,
    RetryError,
    SSLError,
)
from requests.structures import CaseInsensitiveDict
from requests.utils import check_header_validity, get_encoding_from_headers
from urllib3.exceptions import (
    ClosedPoolError,
    ConnectTimeoutError,
    DecodeError,
    LocationValueError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    ResponseError,
)
from urllib3.exceptions import HTTPError as _HTTPError
from urllib3.exceptions import InvalidHeader as _InvalidHeader
from urllib3.exceptions import ProxyError as _ProxyError
from urllib3.exceptions import SSLError as _SSLError
from urllib3.util import Timeout

from app.relay.types import UpstreamRequest

POOL_MAXSIZE = 512  # connections kept per upstream host; more are opened (not kept) under bursts
READ_SIZE = 65536
# URLs `requests` would send exactly as given (no percent-encoding, IDNA or dot-segment rewriting to do)
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9.\-]+(?::[0-9]{1,5})?(?:/[A-Za-z0-9\-._~:/@!$&'()*+,;=]*)?"
                        r"(?:\?[A-Za-z0-9\-._~:/?@!$&'()*+,;=]*)?")

_pid_session: tuple[int, requests.Session, HTTPAdapter] | None = None
_lock = threading.Lock()


def _new_session() -> tuple[requests.Session, HTTPAdapter]:
    session = requests.Session()
    session.trust_env = False
    adapter = HTTPAdapter(pool_connections=64, pool_maxsize=POOL_MAXSIZE, max_retries=0, pool_block=False)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.clear()
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))  # keep no upstream cookie
    return session, adapter


def _current() -> tuple[int, requests.Session, HTTPAdapter]:
    """This process's session and adapter (new ones after fork: pooled sockets must not be shared)."""
    global _pid_session
    current = _pid_session
    pid = os.getpid()
    if current is not None and current[0] == pid:
        return current
    with _lock:
        if _pid_session is None or _pid_session[0] != pid:
            _pid_session = (pid, *_new_session())
        return _pid_session


def session() -> requests.Session:
    """This process's session."""
    return _current()[1]


def send(req: UpstreamRequest, *, connect_timeout: float, read_timeout: float) -> requests.Response:
    """Send `req`; with `req.stream` the body is left unread for `iter_raw`.

    Raises requests' exceptions (Timeout, ConnectionError ...) for the pipeline to classify.
    """
    if req.files is None and not req.proxy:
        response = _send_direct(req, connect_timeout, read_timeout)
        if response is not None:
            return response
    proxies = {"http": req.proxy, "https": req.proxy} if req.proxy else None
    if req.files is not None:
        return session().request(req.method, req.url, headers=req.headers, data=req.form, files=req.files,
                                 stream=req.stream, timeout=(connect_timeout, read_timeout), proxies=proxies,
                                 allow_redirects=False)
    return session().request(req.method, req.url, headers=req.headers, data=req.data, stream=req.stream,
                             timeout=(connect_timeout, read_timeout), proxies=proxies, allow_redirects=False)


class _Target:
    """What the adapter's pool lookup reads of a request: its URL."""

    __slots__ = ("url",)

    def __init__(self, url: str) -> None:
        self.url = url


def _send_direct(req: UpstreamRequest, connect_timeout: float, read_timeout: float) -> requests.Response | None:
    """`req` through the session adapter's pool, as `Session.request` would send it; None when only the
    full `requests` path can send it the same way (an unusual URL or header, a body that is not bytes)."""
    url, data, headers = req.url, req.data, req.headers
    if not (data is None or type(data) is bytes) or _PLAIN_URL.fullmatch(url) is None or "/." in url:
        return None
    for header in headers.items():
        if header[1] is None:
            return None  # requests drops None-valued headers
        check_header_validity(header)
    adapter = _current()[2]
    try:
        conn = adapter.get_connection_with_tls_context(_Target(url), True, None, None)
    except LocationValueError as exc:
        raise InvalidURL(exc) from exc
    parts = urlsplit(url)
    target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    try:
        raw = conn.urlopen(method=req.method, url=target, body=data, headers=headers, redirect=False,
                           assert_same_host=False, preload_content=False, decode_content=False,
                           retries=adapter.max_retries, timeout=Timeout(connect=connect_timeout, read=read_timeout),
                           chunked=False)
    except (ProtocolError, OSError) as err:  # the same mapping as requests' HTTPAdapter.send
        raise requests.ConnectionError(err) from err
    except MaxRetryError as exc:
        reason = exc.reason
        if isinstance(reason, ConnectTimeoutError) and not isinstance(reason, NewConnectionError):
            raise ConnectTimeout(exc) from exc
        if isinstance(reason, ResponseError):
            raise RetryError(exc) from exc
        if isinstance(reason, _ProxyError):
            raise ProxyError(exc) from exc
        if isinstance(reason, _SSLError):
            raise SSLError(exc) from exc
        raise requests.ConnectionError(exc) from exc
    except ClosedPoolError as exc:
        raise requests.ConnectionError(exc) from exc
    except _ProxyError as exc:
        raise ProxyError(exc) from exc
    except (_SSLError, _HTTPError) as exc:
        if isinstance(exc, _SSLError):
            raise SSLError(exc) from exc
        if isinstance(exc, ReadTimeoutError):
            raise ReadTimeout(exc) from exc
        if isinstance(exc, _InvalidHeader):
            raise InvalidHeader(exc) from exc
        raise
    response = requests.Response()
    response.status_code = raw.status
    response.headers = CaseInsensitiveDict(raw.headers)
    response.encoding = get_encoding_from_headers(response.headers)
    response.raw = raw
    response.reason = raw.reason
    response.url = url
    response.connection = adapter
    if not req.stream:
        try:  # what requests' Response.content raises for each failure while reading the body
            response._content = raw.read(decode_content=True) or b""
        except ProtocolError as exc:
            raise ChunkedEncodingError(exc) from exc
        except DecodeError as exc:
            raise ContentDecodingError(exc) from exc
        except ReadTimeoutError as exc:
            raise requests.ConnectionError(exc) from exc
        except _SSLError as exc:
            raise SSLError(exc) from exc
        response._content_consumed = True
    return response


class Body:
    """Iterate a streamed body's bytes as they arrive: each HTTP chunk of a chunked body, else what one
    read returns. `drained` turns True at the end of the body, when the connection can be reused.
    """

    __slots__ = ("response", "drained")

    def __init__(self, response: requests.Response) -> None:
        self.response = response
        self.drained = False

    def __iter__(self) -> Iterator[bytes]:
        raw = self.response.raw
        if raw.chunked and raw.supports_chunked_reads():
            yield from raw.read_chunked(None, decode_content=True)
        else:
            while True:
                chunk = raw.read1(READ_SIZE, decode_content=True)
                if not chunk:
                    break
                yield chunk
        self.drained = True


def close(response: requests.Response, body: Body | None = None) -> None:
    """Close a streamed response; a fully read one gives its connection back to the pool for reuse."""
    if body is not None and body.drained:
        try:
            response.raw.release_conn()
        except Exception:  # noqa: BLE001 - a connection we cannot reuse is simply closed
            pass
    response.close()
