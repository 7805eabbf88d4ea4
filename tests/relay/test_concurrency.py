"""50 requests at once against a balance worth 3 reservations: the conditional UPDATE admits at most 3
while they are in flight, and every unit that left the balance has a log row. On SQLite, PostgreSQL and
MariaDB (the last two start on first use, and are skipped where not installed). Token counting, which holds
nothing, writes one quota-0 row per call under the same load."""

from __future__ import annotations

import threading

import pytest
import requests
from sqlalchemy import func, select
from werkzeug.serving import make_server

from app.extensions import db
from app.models import Log, LogType, QuotaData
from tests.mock_upstream import MockUpstream
from tests.mock_upstream import anthropic as claude_mock
from tests.relay.conftest import balances, create_channel, create_key, create_user, set_options

THREADS = 50
RESERVATION = 1000  # PreConsumedQuota: every request holds exactly this much (its estimate is lower)
COST = 10 + 7  # what each served request really costs: 10 prompt + 7 completion tokens at ratio 1


@pytest.fixture
def served_app(race_app):
    server = make_server("127.0.0.1", 0, race_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("bound", ["user", "key", "user of an unlimited key"])
def test_parallel_requests_respect_the_reservation_bound(race_app, served_app, bound):
    """`bound`: whose balance is worth 3 reservations, the user's or the key's (the other has plenty). With the
    user as the bound the key is charged first and must be given back whenever the user's charge fails."""
    refusal = "insufficient_token_quota" if bound == "key" else "insufficient_user_quota"
    unlimited = bound == "user of an unlimited key"
    with MockUpstream(first_byte_delay=1.5) as upstream:
        create_channel(base_url=upstream.origin)
        set_options(PreConsumedQuota=RESERVATION, ModelRatio={"gpt-4o-mini": 1}, CompletionRatio={"gpt-4o-mini": 1})
        bounded = 3 * RESERVATION + RESERVATION // 2
        start_quota, start_remain = (10**9, bounded) if bound == "key" else (bounded, 10**9)
        key = create_key(create_user(quota=start_quota), remain_quota=start_remain, unlimited=unlimited)
        barrier = threading.Barrier(THREADS)
        statuses: list[int] = []
        lock = threading.Lock()

        def call():
            session = requests.Session()
            barrier.wait()
            answer = session.post(served_app + "/chat/completions", timeout=60,
                                  headers={"Authorization": f"Bearer {key.key}"},
                                  json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
            with lock:
                statuses.append(answer.status_code)
            if answer.status_code == 403:
                assert answer.json()["error"]["code"] == refusal

        threads = [threading.Thread(target=call) for _ in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        served = statuses.count(200)
        assert len(statuses) == THREADS
        assert set(statuses) <= {200, 403}
        assert 1 <= served <= 3
        assert len(upstream.requests) == served, "nothing reaches the upstream without a reservation"

    user_quota, token_remain = balances(key)
    with db.engine.connect() as conn:
        logged = conn.execute(select(func.count(), func.coalesce(func.sum(Log.quota), 0))
                              .where(Log.type == LogType.CONSUME)).one()
        rollup = conn.execute(select(func.coalesce(func.sum(QuotaData.count), 0),
                                     func.coalesce(func.sum(QuotaData.quota), 0))).one()
    assert tuple(logged) == (served, served * COST)
    assert tuple(rollup) == (served, served * COST)
    assert start_quota - user_quota == served * COST
    assert start_remain - token_remain == (0 if unlimited else served * COST)


def test_parallel_token_counts_charge_nothing_and_log_once_each(race_app, served_app):
    """Token counting (native on a Claude channel, offline on an OpenAI one) holds nothing: every call answers,
    even from a user with nothing left, and writes exactly one quota-0 row; no balance or rollup moves."""
    origin = served_app.removesuffix("/v1")
    calls = 20
    with MockUpstream(providers=[claude_mock.PROVIDER]) as upstream:
        create_channel(base_url=upstream.origin, channel_type=14, models=("claude-opus-4-1",))
        create_channel(base_url=upstream.origin, models=("gpt-4o-mini",))
        key = create_key(create_user(quota=0), remain_quota=0)
        barrier = threading.Barrier(calls)
        answers: list[tuple[int, int]] = []
        lock = threading.Lock()

        def call(i: int):
            model = "claude-opus-4-1" if i % 2 else "gpt-4o-mini"
            barrier.wait()
            answer = requests.post(origin + "/v1/messages/count_tokens", timeout=60,
                                   headers={"x-api-key": key.key, "anthropic-version": "2023-06-01"},
                                   json={"model": model, "messages": [{"role": "user", "content": "hi"}]})
            with lock:
                answers.append((answer.status_code, answer.json().get("input_tokens", -1)))

        threads = [threading.Thread(target=call, args=(i,)) for i in range(calls)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        assert len(answers) == calls and all(status == 200 and tokens > 0 for status, tokens in answers)
        assert len(upstream.requests) == calls // 2  # the OpenAI channel's half was counted offline
    assert balances(key) == (0, 0)
    with db.engine.connect() as conn:
        logged = conn.execute(select(func.count(), func.coalesce(func.sum(Log.quota), 0))
                              .where(Log.type == LogType.CONSUME)).one()
        rollup = conn.execute(select(func.count()).select_from(QuotaData)).scalar_one()
    assert tuple(logged) == (calls, 0) and rollup == 0
