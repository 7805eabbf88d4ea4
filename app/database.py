"""Engine set-up per database: SQLite gets WAL, a busy timeout, foreign keys and up-front write locks."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine

SQLITE_BUSY_TIMEOUT_MS = 30000


def configure_engine(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _sqlite_on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (see "begin" below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin_immediate(conn):
        # A deferred transaction that later writes can fail with "database is locked" without waiting
        # for the busy timeout; taking the write lock up front makes concurrent writers queue instead.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def database_type(engine: Engine) -> str:
    """"sqlite", "postgres" or "mysql", the names the one-api family reports."""
    return {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}.get(engine.dialect.name,
                                                                                  engine.dialect.name)
