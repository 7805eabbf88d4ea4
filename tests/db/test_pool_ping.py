"""Pooled connections to a database server are pinged only after they sat idle (app.database): a
connection that died while idle is replaced before anyone uses it; a busy one costs no extra round trip."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from app import database
from app.config import engine_options


@pytest.fixture(params=["postgresql", "mariadb"])
def server_engine(request):
    url = request.getfixturevalue("fresh_postgres_url" if request.param == "postgresql" else "fresh_mysql_url")
    engine = create_engine(url, **engine_options(url))
    database.configure_engine(engine)
    yield engine
    engine.dispose()


def backend_id(conn) -> int:
    sql = "SELECT pg_backend_pid()" if conn.dialect.name == "postgresql" else "SELECT CONNECTION_ID()"
    return conn.execute(text(sql)).scalar_one()


def kill(engine, victim: int) -> None:
    """End the server side of connection `victim` from a connection outside the pool."""
    killer = create_engine(engine.url, poolclass=NullPool)
    with killer.connect() as other:
        if engine.dialect.name == "postgresql":
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": victim})
        else:
            other.execute(text(f"KILL {int(victim)}"))
    killer.dispose()


def test_a_connection_that_died_while_idle_is_replaced_at_checkout(server_engine, monkeypatch):
    with server_engine.connect() as conn:
        victim = backend_id(conn)
    kill(server_engine, victim)
    monkeypatch.setattr(database, "POOL_PING_AFTER_IDLE_SECONDS", 0.0)  # the pooled connection counts as idle
    with server_engine.connect() as conn:
        assert backend_id(conn) != victim
        assert conn.execute(text("SELECT 1")).scalar_one() == 1


def count_pings(engine, monkeypatch) -> list[object]:
    pings: list[object] = []
    original = engine.dialect.do_ping

    def do_ping(dbapi_connection):
        pings.append(dbapi_connection)
        return original(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", do_ping)
    return pings


def test_a_recently_used_connection_is_not_pinged(server_engine, monkeypatch):
    with server_engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    pings = count_pings(server_engine, monkeypatch)
    with server_engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert pings == []


def test_an_idle_connection_is_pinged(server_engine, monkeypatch):
    with server_engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    monkeypatch.setattr(database, "POOL_PING_AFTER_IDLE_SECONDS", 0.0)
    pings = count_pings(server_engine, monkeypatch)
    with server_engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
    assert len(pings) == 1
