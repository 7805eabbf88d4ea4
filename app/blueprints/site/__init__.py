"""Public pages (home, pricing, language switch) and the health check."""

from flask import Blueprint

from app.web import filters

bp = Blueprint("site", __name__)
# Every page (the other blueprints' too) uses the filters and the site context; the site blueprint is
# always registered, so it binds them.
bp.record_once(lambda state: filters.init_app(state.app))

from app.blueprints.site import pages, pricing  # noqa: E402,F401
