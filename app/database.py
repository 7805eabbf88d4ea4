"""Engine set-up per database: SQLite gets WAL, a busy timeout, foreign keys and up-front write locks."""

from __future__ import annotations

import sqlite3
import time

from sqlalchemy import event
from sqlalchemy.engine import Engine

SQLITE_BUSY_TIMEOUT_MS = 30000
BUSY_FIRST_DELAY = 0.0002  # seconds; a relay write transaction holds the lock for about 0.1 ms
BUSY_MAX_DELAY = 0.005
WRITE_STATEMENTS = ("INSERT", "UPDATE", "DELETE", "REPLACE", "SAVEPOINT")


POOL_PING_AFTER_IDLE_SECONDS = 10.0


def configure_engine(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        _ping_connections_after_idle(engine)
        return

    @event.listens_for(engine, "connect")
    def _sqlite_on_connect(dbapi_connection, _record):
        # pysqlite must not open transactions on its own; see _sqlite_lock_before_first_write.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "before_cursor_execute")
    def _sqlite_lock_before_first_write(conn, cursor, statement, _params, context, _many):
        # Reads run in autocommit and never hold a lock (a read before a long stream must not block
        # writers). The first write of a transaction takes the write lock up front with BEGIN IMMEDIATE:
        # a deferred transaction that upgrades to a writer can fail at once with "database is locked"
        # instead of waiting for the busy timeout. SELECT ... FOR UPDATE (which SQLite cannot express)
        # takes the lock too, so "locked row" code paths are serialised on SQLite as well.
        dbapi_connection = conn.connection.dbapi_connection
        if dbapi_connection.in_transaction:
            return
        head = statement.lstrip()[:9].upper()
        if head.startswith(WRITE_STATEMENTS) or _selects_for_update(context):
            cursor.execute("BEGIN IMMEDIATE")


def begin_immediate(cursor, *, busy_timeout_is_zero: bool = False) -> None:
    """BEGIN IMMEDIATE on a raw SQLite cursor, waiting for the write lock without blocking the process.

    SQLite's own busy handler sleeps inside the C call (1, 2, 5, 10 ... ms), which under a gevent
    worker stalls every greenlet of the process, not just the one that waits. Here SQLite fails at
    once (busy_timeout 0: set for this one statement, or for good on a connection of the billing's own,
    `busy_timeout_is_zero`) and the retry sleeps with `time.sleep`, which gevent makes cooperative (and
    which releases the GIL under threads); the overall wait is still bounded by SQLITE_BUSY_TIMEOUT_MS,
    after which "database is locked" is raised as before.
    """
    if not busy_timeout_is_zero:
        cursor.execute("PRAGMA busy_timeout=0")
    try:
        deadline = None
        delay = BUSY_FIRST_DELAY
        while True:
            try:
                cursor.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if getattr(exc, "sqlite_errorcode", sqlite3.SQLITE_BUSY) & 0xFF != sqlite3.SQLITE_BUSY:
                    raise
                now = time.monotonic()
                if deadline is None:
                    deadline = now + SQLITE_BUSY_TIMEOUT_MS / 1000
                elif now >= deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, BUSY_MAX_DELAY)
    finally:
        if not busy_timeout_is_zero:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


def _selects_for_update(context) -> bool:
    compiled = getattr(context, "compiled", None)
    statement = getattr(compiled, "statement", None)
    return getattr(statement, "_for_update_arg", None) is not None


def database_type(engine: Engine) -> str:
    """"sqlite", "postgres" or "mysql", the names the one-api family reports."""
    return {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}.get(engine.dialect.name,
                                                                                  engine.dialect.name)


# MySQL/MariaDB: 1213 deadlock, 1205 lock wait timeout. PostgreSQL: 40P01 deadlock, 40001 serialization.
TRANSIENT_MYSQL_CODES = frozenset({1213, 1205})
TRANSIENT_PG_CODES = frozenset({"40P01", "40001"})


def is_transient_lock_error(exc: BaseException) -> bool:
    """True for errors where the database chose this transaction as a deadlock victim (or timed out
    waiting for a lock): the whole transaction may simply be run again."""
    from sqlalchemy.exc import DBAPIError

    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int) and args[0] in TRANSIENT_MYSQL_CODES:
        return True
    return getattr(orig, "sqlstate", None) in TRANSIENT_PG_CODES


def retry_on_deadlock(func=None, *, attempts: int = 4):
    """Run a service function again (after a rollback) when the database picked it as a deadlock victim.

    The function must be one whole transaction that it commits itself, so a retry repeats all of it.
    """
    import functools
    import random
    import time

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            from app.extensions import db

            for attempt in range(1, attempts + 1):
                try:
                    return fn(*args, **kwargs)
                except Exception as exc:
                    if attempt == attempts or not is_transient_lock_error(exc):
                        raise
                    db.session.rollback()
                    time.sleep(random.uniform(0.005, 0.03) * attempt)
            raise AssertionError("unreachable")

        return wrapper

    return decorate(func) if func is not None else decorate


def _ping_connections_after_idle(engine: Engine) -> None:
    """pool_pre_ping's liveness check, made only for a connection that sat in the pool for a while.

    pool_pre_ping pings at every checkout: a round trip (and a query for the server) in front of each
    billing statement, which on PostgreSQL under the streaming benchmark was a tenth of the worker's time.
    A connection that was in use seconds ago is alive as far as a ping can tell: a server that stops
    afterwards fails the next statement instead, SQLAlchemy then drops every pooled connection, and the
    request fails before anything is charged (billing statements are atomic). A connection that idled
    (where firewalls, proxies and server timeouts cut connections) is pinged as before; a failed ping is
    a DisconnectionError, for which the pool opens a fresh connection.
    """
    from sqlalchemy.exc import DisconnectionError

    @event.listens_for(engine, "checkin")
    def _mark_idle(_dbapi_connection, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, _proxy):
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < POOL_PING_AFTER_IDLE_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # noqa: BLE001 - any failure means this connection cannot be trusted
            raise DisconnectionError("connection failed its liveness check") from exc
        if alive is False:
            raise DisconnectionError("connection failed its liveness check")
