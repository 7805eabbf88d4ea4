"""Scheduled channel tests and balance refreshes: interval options, health rules, one claim per window."""

from __future__ import annotations

import time

import pytest
from redis import Redis

from app import create_app
from app.config import TestConfig
from app.jobs import channels as channel_jobs
from app.jobs.locks import INTERVAL_PREFIX, claim_interval
from app.jobs.schedule import SCHEDULE
from app.models import ChannelStatus
from tests.relay.conftest import channel_row, set_options


def test_both_jobs_are_on_the_schedule_every_minute():
    entries = {entry.func: entry.cron for entry in SCHEDULE}
    assert entries[channel_jobs.scheduled_channel_test] == "* * * * *"
    assert entries[channel_jobs.scheduled_balance_update] == "* * * * *"


def test_off_by_default(app, make_channel, mock_upstream):
    make_channel()
    assert channel_jobs.scheduled_channel_test() == {"due": False}
    assert channel_jobs.scheduled_balance_update() == {"due": False}
    assert mock_upstream.requests == []


def test_scheduled_test_applies_the_health_rules_once_per_window(app, make_channel, mock_upstream):
    set_options(ChannelTestFrequencyMinutes=10, AutomaticEnableChannelEnabled=True)
    healthy = make_channel(key="sk-healthy")
    broken = make_channel(key="sk-broken")
    healed = make_channel(key="sk-healed", status=ChannelStatus.AUTO_DISABLED)
    manual = make_channel(key="sk-manual", status=ChannelStatus.MANUALLY_DISABLED)
    mock_upstream.bad_keys.add("sk-broken")

    summary = channel_jobs.scheduled_channel_test()
    assert summary == {"tested": 3, "succeeded": 2, "failed": 1, "disabled": 1, "enabled": 1}
    assert channel_row(healthy)["status"] == ChannelStatus.ENABLED
    assert channel_row(broken)["status"] == ChannelStatus.AUTO_DISABLED
    assert channel_row(healed)["status"] == ChannelStatus.ENABLED
    assert channel_row(manual)["status"] == ChannelStatus.MANUALLY_DISABLED
    assert "sk-manual" not in {r.api_key for r in mock_upstream.requests}
    assert channel_row(healthy)["test_time"] > 0

    sent = len(mock_upstream.requests)
    assert channel_jobs.scheduled_channel_test() == {"due": False}  # the next minute, same window
    assert len(mock_upstream.requests) == sent

    set_options(ChannelTestFrequencyMinutes=5)  # a new interval starts its own window at once
    assert channel_jobs.scheduled_channel_test()["tested"] == 3


def test_passing_auto_disabled_channel_stays_off_without_automatic_enable(app, make_channel):
    set_options(ChannelTestFrequencyMinutes=1)
    channel = make_channel(status=ChannelStatus.AUTO_DISABLED)
    assert channel_jobs.scheduled_channel_test()["enabled"] == 0
    assert channel_row(channel)["status"] == ChannelStatus.AUTO_DISABLED
    assert channel_row(channel)["test_time"] > 0


def test_a_running_test_makes_the_scheduled_one_skip(app, make_channel, mock_upstream):
    set_options(ChannelTestFrequencyMinutes=10)
    make_channel()
    with channel_jobs.run_lock("channel-test") as held:
        assert held
        assert channel_jobs.scheduled_channel_test() == {"skipped": True}
    assert mock_upstream.requests == []


def test_scheduled_balance_refresh(app, make_channel, mock_upstream):
    set_options(ChannelUpdateFrequencyMinutes=30)
    channel = make_channel()
    off = make_channel(key="sk-off", status=ChannelStatus.MANUALLY_DISABLED)
    claude = make_channel(key="sk-ant", channel_type=14, models=("claude-3-5-haiku-20241022",))
    assert channel_jobs.scheduled_balance_update() == {"updated": 1, "failed": 0, "unsupported": 1}
    assert channel_row(claude)["balance_updated_time"] == 0
    row = channel_row(channel)
    assert float(row["balance"]) == 87.5 and row["balance_updated_time"] > 0
    assert channel_row(off)["balance_updated_time"] == 0
    assert channel_jobs.scheduled_balance_update() == {"due": False}


def test_failing_balance_is_counted_and_nothing_stored(app, make_channel, mock_upstream):
    set_options(ChannelUpdateFrequencyMinutes=30)
    channel = make_channel(key="sk-revoked")
    mock_upstream.bad_keys.add("sk-revoked")
    assert channel_jobs.scheduled_balance_update() == {"updated": 0, "failed": 1, "unsupported": 0}
    assert channel_row(channel)["balance_updated_time"] == 0


def test_local_claim_lapses_after_its_window(app):
    assert claim_interval("lapse", 1)
    assert not claim_interval("lapse", 1)
    time.sleep(1.05)
    assert claim_interval("lapse", 1)
    with pytest.raises(ValueError):
        claim_interval("lapse", 0)


def test_redis_claim_is_shared_by_every_worker(tmp_path, fresh_redis_url):
    """Two processes' apps on one Redis: only the first run in a window claims it; the key has the TTL."""
    first = create_app(TestConfig(tmp_path / "a", f"sqlite:///{tmp_path / 'a.db'}", REDIS_URL=fresh_redis_url))
    second = create_app(TestConfig(tmp_path / "b", f"sqlite:///{tmp_path / 'b.db'}", REDIS_URL=fresh_redis_url))
    with first.app_context():
        assert claim_interval("channel-test:10", 570)
    with second.app_context():
        assert not claim_interval("channel-test:10", 570)
        assert claim_interval("channel-test:5", 270)
    ttl = Redis.from_url(fresh_redis_url).ttl(INTERVAL_PREFIX + "channel-test:10")
    assert 560 < ttl <= 570
