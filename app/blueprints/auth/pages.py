"""Setup, login, registration and logout pages."""

from __future__ import annotations

from flask import render_template

from app.blueprints.auth import bp


@bp.get("/setup")
def setup_page():
    return render_template("auth/setup.html")


@bp.get("/login")
def login_page():
    return render_template("auth/login.html")
