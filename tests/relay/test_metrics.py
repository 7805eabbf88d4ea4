"""Prometheus metrics: relayed requests move the counters; /metrics needs METRICS_TOKEN; worker processes
are summed in multiprocess mode."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from app import metrics
from tests.relay.conftest import consume_logs, set_options, wait_for_logs

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "metrics-secret-token"
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def app_overrides():
    return {"METRICS_TOKEN": TOKEN}


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def post(client, key, **body):
    return client.post("/v1/chat/completions", json={**CHAT, **body}, headers={"Authorization": f"Bearer {key.key}"})


def test_metrics_is_off_without_a_token(tmp_path, tiktoken_cache):
    from tests.conftest import build_app

    app = build_app(tmp_path, TIKTOKEN_CACHE_DIR=tiktoken_cache)
    assert app.config["METRICS_TOKEN"] == ""
    assert app.test_client().get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", "Bearer", f"Bearer {TOKEN}x"])
def test_metrics_refuses_without_the_token(client, header):
    answer = client.get("/metrics", headers={"Authorization": header} if header else {})
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert b"sluice_relay" not in answer.data


def test_a_relayed_request_moves_the_counters(client, make_channel, make_token):
    make_channel()
    key = make_token()
    labels = {"model": "gpt-4o-mini"}
    before = {
        "requests": sample("sluice_relay_requests_total", status="200", **labels),
        "prompt": sample("sluice_relay_tokens_total", kind="prompt", **labels),
        "completion": sample("sluice_relay_tokens_total", kind="completion", **labels),
        "quota": sample("sluice_relay_quota_total", **labels),
        "latency": sample("sluice_upstream_first_response_seconds_count"),
    }
    assert post(client, key).status_code == 200
    [row] = consume_logs(key.user_id)
    assert sample("sluice_relay_requests_total", status="200", **labels) == before["requests"] + 1
    assert sample("sluice_relay_tokens_total", kind="prompt", **labels) == before["prompt"] + row["prompt_tokens"]
    assert (sample("sluice_relay_tokens_total", kind="completion", **labels)
            == before["completion"] + row["completion_tokens"])
    assert sample("sluice_relay_quota_total", **labels) == before["quota"] + row["quota"] > before["quota"]
    assert sample("sluice_upstream_first_response_seconds_count") == before["latency"] + 1

    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200 and answer.content_type.startswith("text/plain")
    text = answer.get_data(as_text=True)
    assert 'sluice_relay_requests_total{model="gpt-4o-mini",status="200"}' in text
    assert "sluice_relay_streams_in_flight" in text


def test_a_failed_request_is_counted_with_its_status(client, make_channel, make_token, mock_upstream):
    make_channel()
    set_options(RetryTimes=0)
    mock_upstream.set_behaviour(status=500)
    key = make_token()
    answer = post(client, key)
    assert answer.status_code >= 500
    status = str(answer.status_code)
    before_ok = sample("sluice_relay_requests_total", model="gpt-4o-mini", status="200")
    assert sample("sluice_relay_requests_total", model="gpt-4o-mini", status=status) >= 1
    failed = sample("sluice_relay_requests_total", model="gpt-4o-mini", status=status)
    post(client, key)
    assert sample("sluice_relay_requests_total", model="gpt-4o-mini", status=status) == failed + 1
    assert sample("sluice_relay_requests_total", model="gpt-4o-mini", status="200") == before_ok


def test_streams_in_flight(client, make_channel, make_token):
    make_channel()
    key = make_token()
    start = sample("sluice_relay_streams_in_flight")
    answer = client.post("/v1/chat/completions", json={**CHAT, "stream": True}, buffered=False,
                         headers={"Authorization": f"Bearer {key.key}"})
    assert answer.status_code == 200
    chunks = iter(answer.response)
    assert next(chunks)
    assert sample("sluice_relay_streams_in_flight") == start + 1
    for _ in chunks:
        pass
    answer.close()
    wait_for_logs(key.user_id, 1)
    assert sample("sluice_relay_streams_in_flight") == start


WORKER = textwrap.dedent("""
    from app import metrics
    metrics.request_settled("gpt-4o", 10, 5, 700, 250)
    metrics.STREAMS_IN_FLIGHT.inc()
    import os; print(os.getpid())
""")
SCRAPE = textwrap.dedent("""
    from prometheus_client import multiprocess
    import sys
    multiprocess.mark_process_dead(int(sys.argv[1]))
    from app import create_app
    from app.config import TestConfig
    app = create_app(TestConfig(sys.argv[2], "sqlite://", METRICS_TOKEN="t"))
    answer = app.test_client().get("/metrics", headers={"Authorization": "Bearer t"})
    print(answer.status_code)
    print(answer.get_data(as_text=True))
""")


def test_multiprocess_mode_sums_the_workers(tmp_path):
    """Two worker processes write their values to PROMETHEUS_MULTIPROC_DIR; /metrics in a third sums them,
    and a worker marked dead (gunicorn's child_exit) no longer counts in the live gauge."""
    directory = tmp_path / "prom"
    directory.mkdir()
    env = {**os.environ, metrics.MULTIPROC_ENV: str(directory), "SLUICE_ENV": "testing"}

    def run(*args: str) -> str:
        result = subprocess.run([sys.executable, "-c", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout

    first = run(WORKER).strip()
    run(WORKER)
    out = run(SCRAPE, first, str(tmp_path / "instance"))
    status, _, text = out.partition("\n")
    assert status == "200"
    assert 'sluice_relay_requests_total{model="gpt-4o",status="200"} 2.0' in text
    assert 'sluice_relay_quota_total{model="gpt-4o"} 1400.0' in text
    assert "sluice_relay_streams_in_flight 1.0" in text  # the dead worker's stream is gone
