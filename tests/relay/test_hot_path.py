"""With warm caches a relayed request reads nothing from the database and commits exactly twice: the
reservation and the settlement. Counted at the driver (SQLite's statement trace on every pooled connection:
the raw-cursor billing statements and their COMMITs) and with SQLAlchemy's engine events (SQL sent through
SQLAlchemy)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import event

from app.extensions import db
from tests.relay.conftest import consume_logs, set_options, wait_for_logs

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def app_overrides():
    return {"OPTIONS_SYNC_SECONDS": 3600}  # the once-a-second version check would count as a read


@pytest.fixture
def counted(app):
    seen = {"sql": [], "commits": 0, "statements": []}

    def on_sql(conn, cursor, statement, params, context, many):
        seen["sql"].append(statement.split()[0].upper())

    def on_statement(statement):
        seen["statements"].append(statement)
        if statement.strip().upper() == "COMMIT":
            seen["commits"] += 1

    def on_checkout(dbapi_connection, record, proxy):
        dbapi_connection.set_trace_callback(on_statement)

    assert db.engine.dialect.name == "sqlite"
    event.listen(db.engine, "before_cursor_execute", on_sql)
    event.listen(db.engine, "checkout", on_checkout)
    yield seen
    event.remove(db.engine, "before_cursor_execute", on_sql)
    event.remove(db.engine, "checkout", on_checkout)


@pytest.mark.parametrize("stream", [False, True])
def test_warm_request_reads_nothing_and_commits_twice(client, make_channel, make_token, counted, stream):
    make_channel()
    key = make_token()
    headers = {"Authorization": f"Bearer {key.key}"}
    body = {**CHAT, "stream": stream}
    assert client.post("/v1/chat/completions", json=body, headers=headers).status_code == 200  # warms caches
    wait_for_logs(key.user_id, 1)
    counted["sql"].clear()
    counted["commits"] = 0
    counted["statements"].clear()
    answer = client.post("/v1/chat/completions", json=body, headers=headers)
    assert answer.status_code == 200
    answer.get_data()  # a stream settles when its generator ends, inside this call
    sql, commits = list(counted["sql"]), counted["commits"]
    driver = [statement.split()[0].upper() for statement in counted["statements"]]
    assert len(wait_for_logs(key.user_id, 2)) == 2
    assert sql == [], "no statement may go through SQLAlchemy on a warm request"
    assert commits == 2
    assert "SELECT" not in driver and driver.count("BEGIN") == 2, driver


def test_log_rows_are_written_even_when_details_are_off(client, make_channel, make_token):
    make_channel()
    set_options(LogConsumeEnabled=False)
    key = make_token()
    client.post("/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {key.key}"})
    [log] = consume_logs(key.user_id)
    assert log["quota"] > 0 and log["other"] is None and log["ip"] is None
    set_options(LogConsumeEnabled=True)
    client.post("/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {key.key}"})
    assert json.loads(consume_logs(key.user_id)[-1]["other"])["frt"] >= 0


def test_relay_paths_skip_the_session_and_the_web_hooks(app, client, make_channel, make_token):
    """A relayed request opens no cookie session and runs none of the web hooks (CSRF, rate limits,
    remember-me, security headers); pages still get them."""
    make_channel()
    key = make_token()
    client.set_cookie(app.config.get("SESSION_COOKIE_NAME", "session"), "not-even-a-valid-signature")
    answer = client.post("/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {key.key}"})
    assert answer.status_code == 200
    assert "Set-Cookie" not in answer.headers and "Cookie" not in answer.headers.get("Vary", "")
    assert "X-Content-Type-Options" not in answer.headers
    refused = client.post("/v1/chat/completions", json=CHAT, headers={"Authorization": "Bearer sk-nope"})
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "invalid_api_key"
    page = client.get("/login")
    assert page.headers["X-Content-Type-Options"] == "nosniff"


def test_a_relay_request_cannot_write_the_session(app):
    from flask import session

    with app.test_request_context("/v1/chat/completions", method="POST"):
        app.preprocess_request()
        assert dict(session) == {}
        with pytest.raises(RuntimeError):
            session["x"] = 1
