"""Smoke tests of the service fixtures in tests/fixtures/services.py: real servers, real clients."""

from __future__ import annotations

import os

import pytest
import redis
import sqlalchemy as sa

from tests.fixtures import services


def test_redis_ping(redis_url):
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        assert client.ping() is True
        client.set("sluice:smoke", "1")
        assert client.get("sluice:smoke") == b"1"
    finally:
        client.close()


def test_fresh_redis_url_is_empty(redis_server, fresh_redis_url):
    client = redis.Redis.from_url(fresh_redis_url, socket_timeout=5)
    try:
        assert client.dbsize() == 0
        client.set("k", "v")
        redis_server.flushall()
        assert client.dbsize() == 0
    finally:
        client.close()


@pytest.mark.parametrize("fixture", ["postgres_url", "mysql_url"])
def test_select_1(request, fixture):
    url = request.getfixturevalue(fixture)
    assert url.endswith(("/sluice_test", "/sluice_test?charset=utf8mb4"))
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


@pytest.mark.parametrize("fixture", ["fresh_postgres_url", "fresh_mysql_url"])
def test_fresh_database_is_empty_and_writable(request, fixture):
    url = request.getfixturevalue(fixture)
    assert "sluice_t_" in url
    engine = sa.create_engine(url)
    try:
        assert sa.inspect(engine).get_table_names() == []
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (id INTEGER PRIMARY KEY, name VARCHAR(20))"))
            conn.execute(sa.text("INSERT INTO t VALUES (1, 'é ✓ 🚀')"))
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT name FROM t")).scalar() == "é ✓ 🚀"
    finally:
        engine.dispose()


@pytest.mark.parametrize("kind", ["postgres", "mysql"])
def test_factory_databases_are_distinct_and_dropped_even_with_open_connections(request, kind):
    server = request.getfixturevalue(f"{kind}_server")
    factory = request.getfixturevalue(f"{kind}_db_factory")
    first, second = factory(), factory()
    assert first != second

    # a connection left open inside a transaction must not block the drop at teardown
    name = first.split("/")[-1].split("?")[0]
    engine = sa.create_engine(first)
    conn = engine.connect()
    conn.execute(sa.text("CREATE TABLE held (id INTEGER)"))
    conn.execute(sa.text("SELECT * FROM held"))  # transaction still open
    try:
        server.drop_database(name)
        listing = {
            "postgres": "SELECT datname FROM pg_database",
            "mysql": "SHOW DATABASES",
        }[kind]
        admin = sa.create_engine(server.url)
        try:
            with admin.connect() as c:
                names = {row[0] for row in c.execute(sa.text(listing))}
        finally:
            admin.dispose()
        assert name not in names
        assert second.split("/")[-1].split("?")[0] in names
    finally:
        conn.invalidate()
        engine.dispose()


def test_servers_start_on_distinct_free_ports_and_stop_by_pid(redis_server):
    other = services.RedisServer().start()
    try:
        assert other.port != redis_server.port
        assert services._alive(other.pid)
        service_dir = other.dir
        assert service_dir.is_dir()
    finally:
        other.stop()
    assert not services._alive(other.pid)
    assert not service_dir.exists()
    assert services._alive(redis_server.pid)


class _Missing(services.Server):
    kind = "missing"

    def prepare(self):
        raise services.ServiceUnavailable("frobnicator-server not found")


def test_missing_binary_skips_by_default(monkeypatch):
    monkeypatch.delenv(services.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="frobnicator"):
        services._start_or_report(_Missing())


def test_missing_binary_fails_when_services_are_required(monkeypatch):
    monkeypatch.setenv(services.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="SLUICE_REQUIRE_SERVICES=1 but frobnicator"):
        services._start_or_report(_Missing())


def test_urls_have_the_documented_shape(redis_url, postgres_url, mysql_url):
    assert redis_url.startswith("redis://127.0.0.1:") and redis_url.endswith("/0")
    assert postgres_url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    assert mysql_url.startswith("mysql+pymysql://root@127.0.0.1:")
    assert mysql_url.endswith("/sluice_test?charset=utf8mb4")
    assert os.environ.get("PYTEST_XDIST_WORKER", "main")  # per-worker servers; see services.py
