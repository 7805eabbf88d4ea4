"""Configuration read from the environment. Standard library only.

Every variable is documented in the README's configuration table; keep the two in step.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise RuntimeError(f"{name} must be an integer, got {raw!r}") from exc


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise RuntimeError(f"{name} must be a number, got {raw!r}") from exc


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def normalize_database_url(url: str) -> str:
    """Accept Heroku-style URLs and pick the drivers we ship (psycopg 3, PyMySQL)."""
    if url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url[len("postgres://"):]
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    elif url.startswith("mysql://"):
        url = "mysql+pymysql://" + url[len("mysql://"):]
    return url


def engine_options(url: str) -> dict:
    """hide_parameters: a failed statement is logged without its values (channel keys, passwords).
    The pool of a database server is sized for a gevent worker, where hundreds of requests bill at once:
    SQLAlchemy's default (5 kept, 10 more opened and closed again on demand) spent most of the worker's
    CPU opening and closing connections under the streaming benchmark. Per worker process."""
    options: dict = {"hide_parameters": True}
    if not url.startswith("sqlite"):
        # no pool_pre_ping: app.database pings only connections that sat idle
        options["pool_size"] = _env_int("DATABASE_POOL_SIZE", 20)
        options["max_overflow"] = _env_int("DATABASE_MAX_OVERFLOW", 10)
    return options


def _instance_secret_key(instance_path: Path) -> str:
    """A development secret kept under instance/, created once, so sessions survive restarts."""
    instance_path.mkdir(parents=True, exist_ok=True)
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    # Several processes may start at once (gunicorn workers, `flask` commands): each writes its own
    # temporary file and links it into place, which fails for all but the first; the others read the winner's.
    fd, tmp = tempfile.mkstemp(prefix=".secret_key.", dir=instance_path)  # mode 0600
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, key_file)
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)
    return key_file.read_text().strip()


class Config:
    """Settings for a running deployment, read once at start-up."""

    TESTING = False

    def __init__(self, instance_path: str | os.PathLike | None = None, secret_key: str | None = None) -> None:
        self.ENV = os.environ.get("SLUICE_ENV", "development").strip().lower()
        self.INSTANCE_PATH = Path(instance_path or os.environ.get("INSTANCE_PATH", PROJECT_ROOT / "instance")).resolve()
        default_db = f"sqlite:///{self.INSTANCE_PATH / 'sluice.db'}"
        self.SQLALCHEMY_DATABASE_URI = normalize_database_url(os.environ.get("DATABASE_URL") or default_db)
        self.REDIS_URL = os.environ.get("REDIS_URL") or None
        secret = secret_key or os.environ.get("SECRET_KEY")
        if not secret:
            if self.ENV == "production":
                raise RuntimeError("SECRET_KEY must be set when SLUICE_ENV=production")
            secret = _instance_secret_key(self.INSTANCE_PATH)
        self.SECRET_KEY = secret
        self.PORT = _env_int("PORT", 3000)
        self.SITE_NAME = os.environ.get("SITE_NAME", "Sluice")
        # Number of reverse proxies in front of the app whose X-Forwarded-For we trust.
        self.TRUSTED_PROXY_COUNT = _env_int("TRUSTED_PROXY_COUNT", 0)
        self.MAX_CONTENT_LENGTH = _env_int("MAX_BODY_BYTES", 20 * 1024 * 1024)
        self.SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", self.ENV == "production")
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.SQLALCHEMY_ECHO = _env_bool("SQL_ECHO", False)
        self.SQLALCHEMY_ENGINE_OPTIONS = engine_options(self.SQLALCHEMY_DATABASE_URI)
        self.SQLALCHEMY_TRACK_MODIFICATIONS = False
        # CSRF is checked by our own before_request hook, only for session-authenticated requests.
        self.WTF_CSRF_CHECK_DEFAULT = False
        self.WTF_CSRF_TIME_LIMIT = None
        self.WTF_CSRF_HEADERS = ["X-CSRFToken", "X-CSRF-Token"]
        self.RATELIMIT_LOGIN = os.environ.get("RATELIMIT_LOGIN", "10 per minute")
        self.RATELIMIT_REGISTER = os.environ.get("RATELIMIT_REGISTER", "5 per hour")
        self.RATELIMIT_REDEEM = os.environ.get("RATELIMIT_REDEEM", "20 per minute")
        self.RATELIMIT_PAY = os.environ.get("RATELIMIT_PAY", "10 per minute")
        # Mails sent by /api/verification and /api/reset_password, per peer address and per recipient.
        self.RATELIMIT_EMAIL = os.environ.get("RATELIMIT_EMAIL", "5 per 10 minutes")
        # Wrong e-mail codes or reset tokens tried for one address before it is locked for the window.
        self.RATELIMIT_CODE_ATTEMPTS = os.environ.get("RATELIMIT_CODE_ATTEMPTS", "10 per 15 minutes")
        self.RATELIMIT_ENABLED = _env_bool("RATELIMIT_ENABLED", True)
        # How often (seconds) a process without Redis checks the options version in the database.
        self.OPTIONS_SYNC_SECONDS = _env_float("OPTIONS_SYNC_SECONDS", 1.0)
        # Relay timeouts (seconds).
        self.RELAY_CONNECT_TIMEOUT = _env_float("RELAY_CONNECT_TIMEOUT", 10.0)
        self.RELAY_READ_TIMEOUT = _env_float("RELAY_READ_TIMEOUT", 300.0)
        self.STREAM_IDLE_TIMEOUT = _env_float("STREAM_IDLE_TIMEOUT", 120.0)
        self.TIKTOKEN_CACHE_DIR = os.environ.get("TIKTOKEN_CACHE_DIR") or str(self.INSTANCE_PATH / "tiktoken")
        # Without Redis the web process fires the periodic schedule itself (jobs always run in-process then).
        self.SCHEDULER_INPROCESS = _env_bool("SCHEDULER_INPROCESS", True)
        # How often a process re-reads plan spend counters from quota_data when there is no Redis.
        self.PLAN_COUNTER_RESYNC_SECONDS = _env_float("PLAN_COUNTER_RESYNC_SECONDS", 60.0)
        self.LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
        # Bearer token for GET /metrics (Prometheus); unset turns the endpoint off (404).
        self.METRICS_TOKEN = os.environ.get("METRICS_TOKEN") or ""
        # OAuth provider endpoints: GitHub Enterprise Server, or a mock provider in tests.
        self.OAUTH_GITHUB_BASE = os.environ.get("OAUTH_GITHUB_BASE", "")
        self.OAUTH_GITHUB_API_BASE = os.environ.get("OAUTH_GITHUB_API_BASE", "")
        self.OAUTH_LINUXDO_BASE = os.environ.get("OAUTH_LINUXDO_BASE", "")
        self.OAUTH_HTTP_TIMEOUT = _env_float("OAUTH_HTTP_TIMEOUT", 10.0)
        # Stripe's REST API (a mock in tests) and how long one call may take.
        self.STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "https://api.stripe.com")
        self.STRIPE_TIMEOUT = _env_float("STRIPE_TIMEOUT", 15.0)
        # Cloudflare Turnstile's siteverify endpoint (a mock in tests) and the SMTP connection timeout.
        self.TURNSTILE_VERIFY_URL = os.environ.get(
            "TURNSTILE_VERIFY_URL", "https://challenges.cloudflare.com/turnstile/v0/siteverify")
        self.TURNSTILE_TIMEOUT = _env_float("TURNSTILE_TIMEOUT", 10.0)
        self.SMTP_TIMEOUT = _env_float("SMTP_TIMEOUT", 15.0)
        self.BABEL_DEFAULT_LOCALE = "en"
        self.LANGUAGES = ["en", "zh_CN"]


class TestConfig(Config):
    """Settings for the test suite: a throw-away instance dir, no rate limits unless a test asks."""

    TESTING = True
    __test__ = False  # not a pytest test class

    def __init__(self, instance_path: str | os.PathLike, database_url: str | None = None, **overrides) -> None:
        os.environ.setdefault("SLUICE_ENV", "testing")
        super().__init__(instance_path, secret_key="test-secret-key")
        self.INSTANCE_PATH = Path(instance_path)
        self.SQLALCHEMY_DATABASE_URI = normalize_database_url(
            database_url or f"sqlite:///{self.INSTANCE_PATH / 'test.db'}"
        )
        self.SQLALCHEMY_ENGINE_OPTIONS = engine_options(self.SQLALCHEMY_DATABASE_URI)
        self.SECRET_KEY = "test-secret-key"
        self.REDIS_URL = None
        self.RATELIMIT_ENABLED = False
        self.SCHEDULER_INPROCESS = False
        self.TIKTOKEN_CACHE_DIR = str(self.INSTANCE_PATH / "tiktoken")
        for key, value in overrides.items():
            setattr(self, key, value)
