"""Browser tests: one headless Chromium per test session (Debian's binary, never `playwright install`),
the app served by werkzeug in a thread on a free port over a temporary SQLite database, with CSRF on.

Screenshots go to test-output/screenshots/ (gitignored) and are named after the page they show.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from app.extensions import db
from tests.conftest import build_app

CHROMIUM = os.environ.get("SLUICE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
ROOT_NAME, ROOT_PASSWORD = "root", "root-password-1"

pytestmark = pytest.mark.browser


@dataclass
class LiveServer:
    """The app answering on http://127.0.0.1:PORT from a background thread."""

    app: object
    url: str
    _server: object = field(repr=False, default=None)
    _thread: threading.Thread | None = field(repr=False, default=None)

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(5)
        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()


def start_server(instance_path: Path, tiktoken_cache: str, **overrides) -> LiveServer:
    """`overrides` are TestConfig settings (e.g. a mock provider's address)."""
    app = build_app(instance_path, TIKTOKEN_CACHE_DIR=tiktoken_cache, WTF_CSRF_ENABLED=True, **overrides)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="e2e-app", daemon=True)
    thread.start()
    return LiveServer(app=app, url=f"http://127.0.0.1:{server.server_port}", _server=server, _thread=thread)


def _chromium_or_skip() -> str:
    if shutil.which(CHROMIUM) or Path(CHROMIUM).exists():
        return CHROMIUM
    message = f"{CHROMIUM} is not installed (apt-get install chromium)"
    if os.environ.get("SLUICE_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One Chromium for the whole session: launching takes seconds, a new context takes milliseconds."""
    executable = _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory, tiktoken_cache) -> Iterator[LiveServer]:
    """A server shared by the tests that do not need a brand-new database; setup is already done."""
    from app.services.setup import perform_setup
    from app.web.hooks import mark_setup_done

    server = start_server(tmp_path_factory.mktemp("e2e-app"), tiktoken_cache)
    with server.app.app_context():
        perform_setup(ROOT_NAME, ROOT_PASSWORD, ROOT_PASSWORD)
        mark_setup_done()
    yield server
    server.stop()


@pytest.fixture
def fresh_server(tmp_path, tiktoken_cache) -> Iterator[LiveServer]:
    """A server on an empty database, for the first-run flow."""
    server = start_server(tmp_path / "app", tiktoken_cache)
    yield server
    server.stop()


class DialogWatch:
    """Records every alert/prompt a page opens (an XSS payload would open one) and accepts confirms."""

    def __init__(self) -> None:
        self.alerts: list[str] = []
        self.confirms: list[str] = []

    def __call__(self, dialog) -> None:
        if dialog.type == "confirm":
            self.confirms.append(dialog.message)
            dialog.accept()
        else:
            self.alerts.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()


@pytest.fixture
def dialogs() -> DialogWatch:
    return DialogWatch()


@pytest.fixture
def context(browser, request):
    """A fresh browser profile (cookies, storage) per test, English unless a test says otherwise."""
    ctx = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900},
                              permissions=["clipboard-read", "clipboard-write"])
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context, dialogs):
    page = context.new_page()
    page.on("dialog", dialogs)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield page
    # A CSP violation or a script error is a bug even when the test's own checks passed.
    assert not [e for e in errors if "Content Security Policy" in e or "Uncaught" in e], errors


def screenshot(page, name: str, tmp_path: Path | None = None) -> Path:
    """Save a full-page PNG as test-output/screenshots/<name>.png (and in the test's tmp dir)."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^\w.-]", "_", name)
    target = SCREENSHOT_DIR / f"{safe}.png"
    page.screenshot(path=str(target), full_page=True)
    if tmp_path is not None:
        shutil.copy(target, tmp_path / target.name)
    return target


def login(page, base_url: str, username: str, password: str) -> None:
    """Sign in through the login form and wait for the page it leads to."""
    page.goto(f"{base_url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    page.wait_for_load_state()
    assert "/login" not in page.url, page.content()[:2000]
