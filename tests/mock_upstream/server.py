"""A real HTTP upstream for tests: werkzeug's threaded server on 127.0.0.1, in a background thread.

Generic parts live here: start/stop, recording every request, choosing each request's
``Behaviour``, routing, and the stream writer that can stall, cut or break a stream. What a
provider's wire format looks like lives in a provider module (``openai_routes.py``) that exports
a ``Provider``; a new provider (Claude, Gemini) is one more module added to ``PROVIDERS``.

    with MockUpstream() as upstream:
        client = openai.OpenAI(base_url=upstream.base_url, api_key="sk-test", max_retries=0)
        upstream.enqueue(Behaviour(status=429))          # next request only
        upstream.set_behaviour(content="Hi", chunks=3)   # every later request
        assert upstream.requests[-1].json["model"] == "gpt-4o-mini"
"""

from __future__ import annotations

import collections
import json
import logging
import socket
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Self

from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import Map, Rule
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from .behaviour import Behaviour, apply_model

Handler = Callable[["Call"], Response]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request."""

    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class RecordedRequest:
    """One request as the upstream received it, plus how it was answered."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    json: Any = None  # parsed JSON body, or None
    form: dict[str, Any] = field(default_factory=dict)  # multipart/urlencoded fields (lists if repeated)
    files: dict[str, UploadedFile] = field(default_factory=dict)
    api_key: str | None = None  # from Authorization: Bearer, x-api-key, api-key, x-goog-api-key or ?key=
    model: str | None = None
    behaviour: Behaviour | None = None  # what was applied
    status: int | None = None  # status sent (None if the connection was dropped first)
    aborted: bool = False  # the response did not finish: cut, dropped, or the client went away
    handler_error: str | None = None  # traceback if the mock's own handler crashed (answered 500)
    finished: threading.Event = field(default_factory=threading.Event, repr=False)

    def header(self, name: str, default: str | None = None) -> str | None:
        """Header value by case-insensitive name."""
        return self.headers.get(name.lower(), default)


@dataclass
class Call:
    """What a route handler gets: the request, its behaviour, parsed body and route arguments."""

    upstream: MockUpstream
    rec: RecordedRequest
    behaviour: Behaviour
    provider: Provider
    args: dict[str, Any]
    environ: dict[str, Any]

    @property
    def body(self) -> dict[str, Any]:
        """The JSON object body, else the form fields, else {}."""
        if isinstance(self.rec.json, dict):
            return self.rec.json
        return self.rec.form

    @property
    def model(self) -> str:
        return self.rec.model or ""

    def error(self, status: int, message: str | None = None, *, error_type: str | None = None,
              error_code: str | None = None, error_param: str | None = None) -> Response:
        """The provider's error response for ``status``, e.g. a request validation failure."""
        b = self.behaviour.replace(status=status, error_message=message, error_type=error_type,
                                   error_code=error_code, error_param=error_param, error_body=None)
        return self.provider.error_response(self, b)


@dataclass
class Provider:
    """One wire format: its routes, error shape and stream framing.

    A handler takes a ``Call`` and returns a werkzeug ``Response``; it runs only when the behaviour
    is a success (errors, drops and delays are applied before it). A handler with ``public = True``
    needs no API key and ignores behaviours (e.g. the image files the mock links to).
    """

    name: str
    routes: list[tuple[str, str, Handler]]  # (methods "GET,POST", werkzeug rule, handler)
    error_payload: Callable[[Call, Behaviour], dict[str, Any]]
    base_headers: Callable[[Call], dict[str, str]] = lambda call: {}
    stream_error_frame: Callable[[Call, Behaviour], bytes] | None = None

    def error_response(self, call: Call, b: Behaviour) -> Response:
        """An error with the provider's JSON (or ``b.error_body`` verbatim) and ``b.status``."""
        headers = self.base_headers(call)
        if b.retry_after is not None and b.status in (429, 503):
            headers["retry-after"] = b.retry_after
        if b.error_body is not None:
            return Response(b.error_body, status=b.status, headers=headers, content_type=b.error_content_type)
        return json_response(self.error_payload(call, b), status=b.status, headers=headers)


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Compact JSON with an explicit content-length, as API servers send."""
    return Response(json.dumps(payload, separators=(",", ":")), status=status, headers=headers or {},
                    content_type="application/json")


def sse(payload: Any) -> bytes:
    """One OpenAI-style server-sent event: ``data: <json>`` and a blank line."""
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return b"data: " + data.encode() + b"\n\n"


def stream_response(call: Call, head: Iterable[bytes], body: list[bytes], tail: Iterable[bytes],
                    content_type: str = "text/event-stream; charset=utf-8",
                    headers: dict[str, str] | None = None) -> Response:
    """A chunked streaming response: ``head`` frames, then ``body`` (the counted content chunks),
    then ``tail`` (finish, usage, [DONE]).

    The behaviour's stream faults apply to ``body``: ``chunk_delay`` before each content chunk,
    ``cut_after`` closes the connection (or ends the body, ``cut_mode="eof"``) after that many,
    ``stream_error_after`` sends the provider's error frame after that many and stops; a number
    above the chunk count applies after the last content chunk, before the finish frame.
    """
    b, rec = call.behaviour, call.rec
    upstream = call.upstream

    def frames() -> Iterator[bytes]:
        completed = False
        try:
            yield from head
            for i in range(len(body) + 1):
                if b.cut_after is not None and i == min(b.cut_after, len(body)):
                    rec.aborted = True
                    if b.cut_mode != "eof":
                        _shutdown(call.environ)
                    return
                if b.stream_error_after is not None and i == min(b.stream_error_after, len(body)):
                    if call.provider.stream_error_frame is not None:
                        yield call.provider.stream_error_frame(call, b)
                    completed = True
                    return
                if i == len(body):
                    break
                if b.chunk_delay and upstream.sleep(b.chunk_delay):
                    rec.aborted = True
                    _shutdown(call.environ)  # server stopping: do not hold the test up
                    return
                yield body[i]
            yield from tail
            completed = True
        finally:
            rec.aborted = rec.aborted or not completed
            rec.finished.set()  # werkzeug skips close() when the socket is already shut

    all_headers = {"cache-control": "no-cache", **call.provider.base_headers(call), **(headers or {})}
    return Response(frames(), status=200, headers=all_headers, content_type=content_type,
                    direct_passthrough=True)


def _shutdown(environ: dict[str, Any]) -> None:
    """Close the client connection now; werkzeug's later writes then fail quietly."""
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _api_key(request: Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    for name in ("x-api-key", "api-key", "x-goog-api-key"):
        if request.headers.get(name):
            return request.headers[name]
    return request.args.get("key") or None


class _QuietHandler(WSGIRequestHandler):
    """HTTP/1.1 (chunked streams) and no access log on stderr."""

    protocol_version = "HTTP/1.1"

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass

    def log(self, type: str, message: str, *args: Any) -> None:
        if type == "error" and "Error on request" in message:
            super().log(type, message, *args)


class MockUpstream:
    """An OpenAI-compatible upstream on a free port; a context manager (start/stop)."""

    def __init__(self, *, bad_keys: Iterable[str] = (), require_auth: bool = True,
                 providers: list[Provider] | None = None, **default: Any) -> None:
        if providers is None:
            from .openai_routes import PROVIDER as OPENAI

            providers = [OPENAI]
        self.providers = providers
        self.require_auth = require_auth
        self._initial_default = Behaviour(**default)
        self._initial_bad_keys = set(bad_keys)
        self.default = self._initial_default
        self.bad_keys: set[str] = set(self._initial_bad_keys)
        self.key_behaviours: dict[str, Behaviour] = {}
        self._queue: collections.deque[Behaviour] = collections.deque()
        self._requests: list[RecordedRequest] = []
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._endpoints = [(provider, handler) for provider in providers for _, _, handler in provider.routes]
        paths = [(methods, path) for provider in providers for methods, path, _ in provider.routes]
        self._urls = Map([Rule(path, endpoint=i, methods=methods.split(","))
                          for i, (methods, path) in enumerate(paths)])

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> Self:
        """Bind 127.0.0.1 on a free port and serve in a daemon thread."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"mock-upstream-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; slow streams still running are cut at their next delay."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("MockUpstream is not started")
        return self._server.server_port

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``: for relays that append ``/v1/...`` themselves."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: what the OpenAI SDK takes as ``base_url``."""
        return self.origin + "/v1"

    def url(self, path: str) -> str:
        return self.origin + "/" + path.lstrip("/")

    def sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` unless the server stops first; True if it is stopping."""
        return self._stopping.wait(seconds)

    # -- behaviours --------------------------------------------------------------------------------
    def set_behaviour(self, behaviour: Behaviour | None = None, **changes: Any) -> None:
        """Replace the default behaviour (``behaviour``) and/or change some of its fields."""
        with self._cond:
            self.default = (behaviour or self.default).replace(**changes)

    def enqueue(self, *behaviours: Behaviour | dict[str, Any]) -> None:
        """Queue behaviours consumed one per request, in order, before falling back to the default."""
        with self._cond:
            for b in behaviours:
                self._queue.append(b if isinstance(b, Behaviour) else self.default.replace(**b))

    def set_key_behaviour(self, api_key: str, behaviour: Behaviour | None = None, **changes: Any) -> None:
        """Behaviour for requests with ``api_key`` (instead of the default); None and no changes clears."""
        with self._cond:
            if behaviour is None and not changes:
                self.key_behaviours.pop(api_key, None)
            else:
                self.key_behaviours[api_key] = (behaviour or self.default).replace(**changes)

    def reset(self) -> None:
        """Forget recorded requests and queued/keyed behaviours; restore the constructor's settings."""
        with self._cond:
            self._requests.clear()
            self._queue.clear()
            self.key_behaviours.clear()
            self.default = self._initial_default
            self.bad_keys = set(self._initial_bad_keys)

    @property
    def pending(self) -> int:
        """Queued behaviours not consumed yet."""
        with self._cond:
            return len(self._queue)

    # -- recordings --------------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far, oldest first."""
        with self._cond:
            return list(self._requests)

    @property
    def last_request(self) -> RecordedRequest:
        with self._cond:
            if not self._requests:
                raise AssertionError("the mock upstream has received no request")
            return self._requests[-1]

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until ``count`` requests have arrived; raise AssertionError on timeout."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._requests) >= count, timeout):
                raise AssertionError(f"expected {count} requests, got {len(self._requests)}")
            return list(self._requests)

    # -- WSGI --------------------------------------------------------------------------------------
    def _record(self, request: Request) -> RecordedRequest:
        body = request.get_data(cache=True)
        parsed = None
        if request.mimetype == "application/json" or (body[:1] in (b"{", b"[")):
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        form: dict[str, Any] = {}
        files: dict[str, UploadedFile] = {}
        if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
            for key in request.form:
                values = request.form.getlist(key)
                form[key] = values[0] if len(values) == 1 else values
            for key, f in request.files.items():
                files[key] = UploadedFile(f.filename, f.content_type, f.read())
        rec = RecordedRequest(
            method=request.method, path=request.path, query=dict(request.args.items()),
            headers={k.lower(): v for k, v in request.headers.items()}, body=body, json=parsed,
            form=form, files=files, api_key=_api_key(request),
        )
        source = parsed if isinstance(parsed, dict) else form
        model = source.get("model")
        rec.model = model if isinstance(model, str) else None
        return rec

    def _behaviour_for(self, rec: RecordedRequest) -> Behaviour:
        with self._cond:
            if self._queue:
                b = self._queue.popleft()
            else:
                b = self.key_behaviours.get(rec.api_key or "", self.default)
        return apply_model(b, rec.model)

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        rec = self._record(request)
        adapter = self._urls.bind_to_environ(environ)
        try:
            endpoint, args = adapter.match()
            provider, handler = self._endpoints[endpoint]
        except HTTPException as exc:
            provider, handler, args = self.providers[0], None, {"routing_error": exc}
        rec.model = args.get("model", rec.model)

        if getattr(handler, "public", False):
            b = Behaviour()  # e.g. image URLs: no key needed, never affected by behaviours
        elif self.require_auth and not rec.api_key:
            b = Behaviour(status=401, error_code="missing_api_key")
        elif rec.api_key in self.bad_keys:
            b = Behaviour(status=401, error_code="invalid_api_key")
        elif handler is None:
            b = self.default  # unknown URLs do not consume queued behaviours
        else:
            b = self._behaviour_for(rec)
        rec.behaviour = b
        with self._cond:
            self._requests.append(rec)
            self._cond.notify_all()
        call = Call(self, rec, b, provider, args, environ)

        if b.first_byte_delay and self.sleep(b.first_byte_delay):
            b = b.replace(drop_connection=True)
        if b.drop_connection:
            return self._drop(call, start_response)
        if handler is None:
            exc = args["routing_error"]
            code = 405 if isinstance(exc, MethodNotAllowed) else 404
            response = call.error(code, f"Invalid URL ({request.method} {request.path})")
        elif b.status >= 400:
            response = provider.error_response(call, b)
        else:
            try:
                response = handler(call)
            except Exception as exc:  # a bug in the mock: answer 500 and keep the traceback for the test
                log.exception("mock upstream handler failed on %s %s", rec.method, rec.path)
                rec.handler_error = traceback.format_exc()
                response = call.error(500, f"mock upstream handler failed: {exc!r}")
        for name, value in b.headers.items():
            response.headers[name] = value
        rec.status = response.status_code
        response.call_on_close(rec.finished.set)
        return response(environ, start_response)

    def _drop(self, call: Call, start_response: Callable[..., Any]) -> Iterable[bytes]:
        call.rec.aborted = True
        start_response("500 Dropped", [])

        def nothing() -> Iterator[bytes]:
            _shutdown(call.environ)
            call.rec.finished.set()
            yield from ()

        return nothing()


__all__ = ["Behaviour", "Call", "MockUpstream", "Provider", "RecordedRequest", "UploadedFile",
           "json_response", "sse", "stream_response"]
