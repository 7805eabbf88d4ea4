"""Unbound extension objects, bound to the app in create_app(). Third-party imports only."""

from __future__ import annotations

from flask import request
from flask_babel import Babel
from flask_htmx import HTMX
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.model import Model as FlaskSQLAlchemyModel
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData

# Stable constraint names so Alembic migrations are the same on SQLite, PostgreSQL and MySQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}



class ModelBase:
    """db.Model's base in place of Flask-SQLAlchemy's `Model`, keeping only its `__repr__`.

    SQLAlchemy evaluates the string annotations of every base class inside each mapped class's namespace.
    There a column named `type` (Channel.type, Log.type) shadows the builtin in Flask-SQLAlchemy's
    `query_class: ClassVar[type[Query]]`, which became `Integer[Query]` and an SADeprecationWarning
    ("Integer ... getitem") at import. Flask-SQLAlchemy sets `query_class`, `query` and `__fsa__` on
    db.Model itself whatever base it is given, so nothing else of its Model is lost.
    """

    __repr__ = FlaskSQLAlchemyModel.__repr__


db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION), model_class=ModelBase)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
htmx = HTMX()
babel = Babel()


def peer_address() -> str:
    """The client's address; X-Forwarded-For is honoured only through ProxyFix (TRUSTED_PROXY_COUNT)."""
    return request.remote_addr or "unknown"


limiter = Limiter(key_func=peer_address, default_limits=[], headers_enabled=True)
RELAY_PATH_PREFIXES = ("/v1/", "/v1beta/", "/dashboard/", "/mj/", "/mj-", "/suno/", "/kling/")  # /mj-fast/mj/...


@limiter.request_filter
def _relay_paths_are_not_limited_here() -> bool:
    """Relay paths carry no Flask-Limiter limits; skipping them saves its per-request bookkeeping."""
    return request.path.startswith(RELAY_PATH_PREFIXES)


def init_redis(app) -> None:
    """Create the app's Redis client when REDIS_URL is set; None otherwise (single-machine mode)."""
    url = app.config.get("REDIS_URL")
    client = None
    if url:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
    app.extensions["sluice_redis"] = client


def get_redis():
    """The current app's Redis client, or None when the app runs without Redis."""
    from flask import current_app

    return current_app.extensions.get("sluice_redis")
