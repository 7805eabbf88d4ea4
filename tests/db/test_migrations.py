"""The one reviewed migration history: upgrade and downgrade round-trip on every database, and the models
agree with what the migrations build (nothing autogenerate would still add)."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from app import create_app
from app.config import TestConfig
from app.extensions import db

EXPECTED_TABLES = {
    "users", "tokens", "channels", "abilities", "logs", "quota_data", "redemptions", "redemption_logs",
    "topups", "midjourney", "tasks", "options", "setup", "checkins", "quota_types", "plans",
    "user_subscriptions", "two_fa", "two_fa_backup_codes",
}


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'migrate.db'}"
    return request.getfixturevalue(f"fresh_{request.param}_url")


def _tables() -> set[str]:
    return set(inspect(db.engine).get_table_names()) - {"alembic_version"}


def test_upgrade_downgrade_round_trip(tmp_path, database_url):
    app = create_app(TestConfig(tmp_path, database_url))
    with app.app_context():
        upgrade()
        assert EXPECTED_TABLES <= _tables()
        downgrade(revision="base")
        assert _tables() == set()
        upgrade()
        assert EXPECTED_TABLES <= _tables()
        db.engine.dispose()


def test_models_match_migrations(tmp_path, database_url):
    app = create_app(TestConfig(tmp_path, database_url))
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        db.engine.dispose()
    assert diff == [], f"models and migrations disagree; add a revision: {diff}"


def test_quota_columns_are_bigint(tmp_path):
    """A 32-bit balance caps a user near $4,295 (a known one-api family bug); every quota is BIGINT."""
    app = create_app(TestConfig(tmp_path))
    with app.app_context():
        upgrade()
        inspector = inspect(db.engine)
        for table, column in [("users", "quota"), ("users", "used_quota"), ("users", "aff_quota"),
                              ("tokens", "remain_quota"), ("tokens", "used_quota"), ("logs", "quota"),
                              ("channels", "used_quota"), ("redemptions", "quota"), ("quota_data", "quota")]:
            types = {c["name"]: str(c["type"]).upper() for c in inspector.get_columns(table)}
            assert "BIGINT" in types[column], (table, column, types[column])
        db.engine.dispose()
