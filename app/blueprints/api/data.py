"""Placeholder: filled in by the engineer who owns this module."""

from app.blueprints.api import bp  # noqa: F401
