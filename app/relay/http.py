"""The one HTTP helper every adaptor's request goes through: a pooled `requests.Session` per process.

Blocking `requests` calls are what gevent workers patch into cooperative ones; under gthread they
block one thread. The session ignores proxy/netrc environment variables (`trust_env=False`): looking
them up costs about 0.1 ms per request, and a channel that needs a proxy names it in its settings.
Streams are read with `iter_raw`, which yields each HTTP chunk as it arrives (never waiting to fill a
buffer), so the relay passes events on with no added latency.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import requests
from requests.adapters import HTTPAdapter

from app.relay.types import UpstreamRequest

POOL_MAXSIZE = 512  # connections kept per upstream host; more are opened (not kept) under bursts
READ_SIZE = 65536

_pid_session: tuple[int, requests.Session] | None = None
_lock = threading.Lock()


def _new_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    adapter = HTTPAdapter(pool_connections=64, pool_maxsize=POOL_MAXSIZE, max_retries=0, pool_block=False)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.clear()
    return session


def session() -> requests.Session:
    """This process's session (a new one after fork: pooled sockets must not be shared by processes)."""
    global _pid_session
    current = _pid_session
    pid = os.getpid()
    if current is not None and current[0] == pid:
        return current[1]
    with _lock:
        if _pid_session is None or _pid_session[0] != pid:
            _pid_session = (pid, _new_session())
        return _pid_session[1]


def send(req: UpstreamRequest, *, connect_timeout: float, read_timeout: float) -> requests.Response:
    """Send `req`; with `req.stream` the body is left unread for `iter_raw`.

    Raises requests' exceptions (Timeout, ConnectionError ...) for the pipeline to classify.
    """
    proxies = {"http": req.proxy, "https": req.proxy} if req.proxy else None
    if req.files is not None:
        return session().request(req.method, req.url, headers=req.headers, data=req.form, files=req.files,
                                 stream=req.stream, timeout=(connect_timeout, read_timeout), proxies=proxies,
                                 allow_redirects=False)
    return session().request(req.method, req.url, headers=req.headers, data=req.data, stream=req.stream,
                             timeout=(connect_timeout, read_timeout), proxies=proxies, allow_redirects=False)


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
