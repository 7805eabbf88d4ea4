"""The nightly usage job: yesterday's quota_data is checked against the consume logs and repaired, with a
system log row saying what changed; a clean day changes nothing. Usage comes from real relayed requests."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.jobs import usage
from app.jobs.schedule import SCHEDULE
from app.models import Log, LogType, QuotaData
from app.services import stats
from tests.conftest import build_app
from tests.factories import make_user
from tests.relay.conftest import consume_logs

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def relay(client, key, times: int = 1) -> None:
    for _ in range(times):
        answer = client.post("/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {key.key}"})
        assert answer.status_code == 200, answer.get_data(as_text=True)


def rollup() -> list[tuple]:
    with db.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(
            select(QuotaData.user_id, QuotaData.model_name, QuotaData.channel_id, QuotaData.created_at,
                   QuotaData.count, QuotaData.quota, QuotaData.token_used).order_by(QuotaData.id))]


def tomorrow() -> int:
    """A `now` for which the day of the requests just made is "yesterday"."""
    return int(time.time()) + stats.DAY


def test_the_job_runs_nightly_after_midnight():
    assert {entry.func: entry.cron for entry in SCHEDULE}[usage.verify_yesterday_usage] == "37 0 * * *"


def test_yesterday_bounds():
    day = 1_763_769_600  # 2025-11-22 00:00:00 UTC
    assert usage.yesterday_bounds(day + 37 * 60) == (day - stats.DAY, day)
    assert usage.yesterday_bounds(day) == (day - stats.DAY, day)


def test_a_clean_day_changes_nothing(client, make_channel, make_token):
    make_channel()
    key = make_token()
    relay(client, key, 2)
    before = rollup()
    assert before and before[0][4] == 2
    result = usage.verify_yesterday_usage(now=tomorrow())
    assert result["repaired"] == 0 and result["buckets"] == 1
    assert rollup() == before
    assert consume_logs(None, LogType.SYSTEM) == []


def test_a_corrupted_bucket_is_repaired_and_logged(client, make_channel, make_token):
    make_channel()
    key, other = make_token(), make_token()
    relay(client, key, 3)
    relay(client, other)
    logged = sum(row["quota"] for row in consume_logs(key.user_id))
    with db.engine.begin() as conn:  # drift: a lost increment on one bucket, a lost bucket for the other user
        conn.execute(update(QuotaData).where(QuotaData.user_id == key.user_id)
                     .values(count=QuotaData.count - 1, quota=QuotaData.quota - 7))
        conn.execute(QuotaData.__table__.delete().where(QuotaData.user_id == other.user_id))

    result = usage.verify_yesterday_usage(now=tomorrow())
    assert result["repaired"] == 2
    rows = {row[0]: row for row in rollup()}
    assert rows[key.user_id][4:6] == (3, logged)
    assert rows[other.user_id][4] == 1
    [notice] = consume_logs(None, LogType.SYSTEM)
    assert notice["content"].startswith("Usage rollup repaired: 2 hourly bucket(s)")
    assert f"user={key.user_id}" in notice["content"] and f"user={other.user_id}" in notice["content"]
    assert '"repaired_buckets":2' in notice["other"]

    assert usage.verify_yesterday_usage(now=tomorrow())["repaired"] == 0  # the second night: in step
    assert len(consume_logs(None, LogType.SYSTEM)) == 1
    assert stats.verify_quota_data(*usage.yesterday_bounds(tomorrow()), now=tomorrow()).ok


def test_today_is_not_touched(client, make_channel, make_token):
    """Run tonight (not tomorrow): the requests are today's, outside the checked day, so even drift stays."""
    make_channel()
    key = make_token()
    relay(client, key)
    with db.engine.begin() as conn:
        conn.execute(update(QuotaData).values(quota=QuotaData.quota + 1))
    before = rollup()
    assert usage.verify_yesterday_usage()["repaired"] == 0
    assert rollup() == before


def test_a_run_in_progress_makes_the_next_skip(app):
    from app.jobs.locks import job_lock

    with job_lock("usage-verify", 60) as held:
        assert held
        assert usage.verify_yesterday_usage() == {"skipped": True}


@pytest.mark.parametrize("url_fixture", ["fresh_postgres_url", "fresh_mysql_url"])
def test_repair_and_its_log_row_on_server_databases(request, tmp_path, tiktoken_cache, url_fixture):
    server_app = build_app(tmp_path, request.getfixturevalue(url_fixture), TIKTOKEN_CACHE_DIR=tiktoken_cache)
    with server_app.app_context():
        user = make_user("nightly")
        since, _ = usage.yesterday_bounds()
        hour = since + 5 * 3600
        db.session.add(Log(type=LogType.CONSUME, user_id=user.id, username=user.username, created_at=hour + 60,
                           quota=40, model_name="gpt-4o", token_id=0, channel_id=0, prompt_tokens=3,
                           completion_tokens=4))
        db.session.add(QuotaData(user_id=user.id, username=user.username, model_name="gpt-4o", token_id=0,
                                 channel_id=0, created_at=hour, count=1, quota=39, token_used=7))
        db.session.commit()
        assert usage.verify_yesterday_usage()["repaired"] == 1
        db.session.expire_all()
        assert db.session.scalar(select(QuotaData.quota)) == 40
        notes = db.session.scalars(select(Log.content).where(Log.type == LogType.SYSTEM)).all()
        assert len(notes) == 1 and "1 hourly bucket(s)" in notes[0]
        assert usage.verify_yesterday_usage()["repaired"] == 0
        db.session.remove()
        db.engine.dispose()
