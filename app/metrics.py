"""Prometheus metrics of the relay, and the `/metrics` endpoint that exposes them.

What is counted, and where (a few increments per request, no database work):
- at settlement (app.relay.settlement.settle): one request by model and status "200", its prompt and
  completion tokens, the quota charged, and the upstream's time to first response;
- when a relayed request fails upstream (app.relay.pipeline): one request by model and the status sent
  to the client;
- around a stream's generator (app.relay.streaming): the streams in flight.

Labels stay bounded: `model` is only ever a model the request was priced and routed for (configured by
an admin), `status` an HTTP status. No user, key or channel ids.

Under gunicorn (several worker processes) set PROMETHEUS_MULTIPROC_DIR to an empty directory: each
process then writes its values to files there, `/metrics` sums them over all workers, and gunicorn.conf.py
tells the client library when a worker exits (`mark_process_dead`) and empties the directory at start.

`/metrics` answers only with `Authorization: Bearer <METRICS_TOKEN>`; without METRICS_TOKEN it is off (404).
"""

from __future__ import annotations

import hmac
import os

from flask import Blueprint, Response, abort, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter("sluice_relay_requests", "Relayed requests by model and the HTTP status sent to the client.",
                   ["model", "status"])
TOKENS = Counter("sluice_relay_tokens", "Tokens of settled requests, by model and kind (prompt, completion).",
                 ["model", "kind"])
QUOTA = Counter("sluice_relay_quota", "Quota charged at settlement, by model.", ["model"])
UPSTREAM_LATENCY = Histogram(
    "sluice_upstream_first_response_seconds", "Time from sending a request upstream to its first response.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, float("inf")))
STREAMS_IN_FLIGHT = Gauge("sluice_relay_streams_in_flight", "Streamed answers being relayed now.",
                          multiprocess_mode="livesum")


def request_settled(model: str, prompt_tokens: int, completion_tokens: int, quota: int,
                    first_response_ms: int) -> None:
    """Count one settled (successful) request."""
    REQUESTS.labels(model, "200").inc()
    if prompt_tokens:
        TOKENS.labels(model, "prompt").inc(prompt_tokens)
    if completion_tokens:
        TOKENS.labels(model, "completion").inc(completion_tokens)
    if quota:
        QUOTA.labels(model).inc(quota)
    UPSTREAM_LATENCY.observe(first_response_ms / 1000.0)


def request_failed(model: str, status: int | None) -> None:
    """Count one request that failed upstream (no channel, upstream errors) with the client's status."""
    REQUESTS.labels(model, str(status or 500)).inc()


# -- exposition -----------------------------------------------------------------------------------------
bp = Blueprint("metrics", __name__)


def _registry():
    """All workers' values when PROMETHEUS_MULTIPROC_DIR is set, else this process's default registry."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    from prometheus_client import REGISTRY

    return REGISTRY


def _authorized(expected: str) -> bool:
    scheme, _, given = (request.headers.get("Authorization") or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected.encode())


@bp.get("/metrics")
def metrics() -> Response:
    expected = current_app.config.get("METRICS_TOKEN") or ""
    if not expected:
        abort(404)
    if not _authorized(expected):
        return Response("a valid METRICS_TOKEN is required as a Bearer token\n", 401,
                        {"WWW-Authenticate": 'Bearer realm="metrics"'}, content_type="text/plain")
    return Response(generate_latest(_registry()), 200, content_type=CONTENT_TYPE_LATEST)
