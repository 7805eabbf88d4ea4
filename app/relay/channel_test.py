"""Channel operations that talk to the upstream: test, fetch models, update balance.

A test sends a real, small request through the channel's adaptor and the shared HTTP helper (a chat
request with max_tokens 16, or an embedding for embedding models), records `response_time` (ms) and
`test_time` on the channel, and never bills anyone.
Re-enabling: a passing test re-enables an AUTO-disabled channel (and the key tested) when it was run by
an admin by hand, or, for batch runs (all channels, scheduled), when AutomaticEnableChannelEnabled is on.
new-api's manual test only records the time; we re-enable because an admin testing a channel by hand is
exactly the "it works again" signal. Batch runs also auto-disable a failing channel, by the same rules as
live traffic (app.relay.health). Manually disabled channels are never re-enabled.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import requests
from flask import current_app
from sqlalchemy import select, update

from app.billing.quota import release_session
from app.errors import NotFound, ValidationError
from app.extensions import db
from app.models import Channel, ChannelStatus
from app.options import options
from app.relay import health, http
from app.relay.adaptors.base import failure_from_body
from app.relay.adaptors.registry import get_adaptor
from app.relay.routing import channel_columns, channel_info
from app.relay.types import ChannelInfo, Mode, RelayContext, UpstreamFailure

DEFAULT_TEST_MODEL = "gpt-4o-mini"
MANAGEMENT_TIMEOUT = 20.0


class NoBalanceEndpoint(ValidationError):
    """The channel's provider has no balance endpoint (the scheduled refresh skips it quietly)."""


@dataclass
class TestResult:
    success: bool
    message: str
    seconds: float
    model: str = ""
    enabled: bool = False  # the test re-enabled the channel
    disabled: bool = False  # the test disabled the channel (batch runs only)


def load_channel(channel_id: int) -> ChannelInfo:
    release_session()
    with db.engine.connect() as conn:
        row = conn.execute(channel_columns().where(Channel.__table__.c.id == channel_id)).first()
    if row is None:
        raise NotFound("channel not found")
    return channel_info(row)


def _timeouts() -> tuple[float, float]:
    config = current_app.config
    return float(config.get("RELAY_CONNECT_TIMEOUT", 10.0)), MANAGEMENT_TIMEOUT


def _test_key_index(channel: ChannelInfo) -> int:
    active = channel.enabled_key_indexes()
    return active[0] if active else 0


def test_channel(channel_id: int, model: str | None = None, *, batch: bool = False) -> TestResult:
    """Test one channel with a real request; see the module docstring for what it changes."""
    channel = load_channel(channel_id)
    model = (model or "").strip() or channel.test_model or (channel.models[0] if channel.models else "")
    model = model or DEFAULT_TEST_MODEL
    adaptor = get_adaptor(channel.type)
    mode = Mode.EMBEDDINGS if "embedding" in model.lower() else Mode.CHAT
    if adaptor is None or not adaptor.supports(mode):
        return TestResult(False, f"channel type {channel.type} is not supported by the relay yet", 0.0, model)
    if mode == Mode.EMBEDDINGS:
        body = {"model": model, "input": ["hello world"]}
    else:
        body = adaptor.test_request_body(model)
        body["max_tokens"] = 16
    key_index = _test_key_index(channel)
    ctx = RelayContext(mode=mode, origin_model=model, stream=False, body=body,
                       raw_body=json.dumps(body).encode(), channel=channel, key_index=key_index,
                       api_key=channel.keys[key_index] if key_index < len(channel.keys) else "",
                       upstream_model=channel.model_mapping.get(model) or model, request_id="channel-test")
    failure, elapsed_ms = _run(adaptor, ctx)
    _record_time(channel.id, elapsed_ms)
    result = TestResult(failure is None, "" if failure is None else failure.message, elapsed_ms / 1000.0, model)
    if failure is None:
        if channel.status == ChannelStatus.AUTO_DISABLED or channel.key_status.get(str(key_index), 1) != 1:
            if not batch or options().get("AutomaticEnableChannelEnabled"):
                result.enabled = health.enable(channel.id, key_index)
    elif batch and channel.status == ChannelStatus.ENABLED:
        threshold = float(options().get("ChannelDisableThreshold") or 0)
        if threshold and elapsed_ms > threshold * 1000 and not health.should_disable(channel, failure):
            failure = UpstreamFailure(408, f"response time {elapsed_ms / 1000:.2f}s is over the threshold")
            result.disabled = health.disable(channel.id, key_index, failure.message)
        else:
            result.disabled = health.record_failure(channel, key_index, failure)
    return result


def _run(adaptor, ctx: RelayContext) -> tuple[UpstreamFailure | None, int]:
    """Send the test request: (None when the upstream answered well, else the failure; elapsed ms)."""
    connect, read = _timeouts()
    req = adaptor.build_request(ctx)
    release_session()
    started = time.perf_counter()
    failure: UpstreamFailure | None = None
    try:
        response = http.send(req, connect_timeout=connect, read_timeout=read)
        content = response.content
    except requests.Timeout:
        failure = UpstreamFailure(504, "the upstream did not answer in time", network=True)
    except requests.RequestException as exc:
        failure = UpstreamFailure(502, f"could not reach the upstream ({type(exc).__name__})", network=True)
    else:
        content_type = response.headers.get("Content-Type", "")
        if response.status_code >= 300:
            failure = adaptor.parse_error(ctx, response.status_code, content_type, content)
        else:
            parsed = adaptor.parse_response(ctx, response.status_code, content_type, content)
            if isinstance(parsed, UpstreamFailure):
                failure = parsed
    return failure, int((time.perf_counter() - started) * 1000)


def _record_time(channel_id: int, elapsed_ms: int) -> None:
    c = Channel.__table__.c
    release_session()
    with db.engine.begin() as conn:
        conn.execute(update(Channel.__table__).where(c.id == channel_id)
                     .values(response_time=elapsed_ms, test_time=int(time.time())))


def _fetch_json(url: str, headers: dict[str, str]) -> dict:
    connect, read = _timeouts()
    response = http.session().get(url, headers=headers, timeout=(connect, read), allow_redirects=False)
    if response.status_code >= 300:
        failure = failure_from_body(response.status_code, response.content)
        raise ValidationError(f"upstream answered {response.status_code}: {failure.message}")
    try:
        payload = response.json()
    except ValueError:
        raise ValidationError("the upstream did not answer with JSON") from None
    if not isinstance(payload, dict):
        raise ValidationError("the upstream did not answer with a JSON object")
    return payload


def fetch_models(channel_type: int, base_url: str, key: str, settings: dict | None = None) -> list[str]:
    """The model ids the upstream lists for `key` (GET /v1/models or the provider's equivalent)."""
    adaptor = get_adaptor(channel_type)
    if adaptor is None:
        raise ValidationError(f"channel type {channel_type} is not supported by the relay yet")
    key = (key or "").strip().splitlines()[0].strip() if (key or "").strip() else ""
    req = adaptor.models_request(base_url, key, settings or {})
    if req is None:
        raise ValidationError("this provider has no model list endpoint")
    release_session()
    try:
        payload = _fetch_json(req.url, req.headers)
    except requests.RequestException as exc:
        raise ValidationError(f"could not reach the upstream ({type(exc).__name__})") from None
    return adaptor.parse_models(payload)


def fetch_channel_models(channel_id: int) -> list[str]:
    channel = load_channel(channel_id)
    index = _test_key_index(channel)
    return fetch_models(channel.type, channel.base_url, channel.keys[index] if channel.keys else "",
                        channel.settings)


def update_balance(channel_id: int) -> float:
    """Ask the upstream for the channel's balance (USD or the provider's currency) and store it."""
    channel = load_channel(channel_id)
    adaptor = get_adaptor(channel.type)
    if adaptor is None:
        raise ValidationError(f"channel type {channel.type} is not supported by the relay yet")
    index = _test_key_index(channel)
    release_session()
    try:
        balance = adaptor.balance(channel.base_url, channel.keys[index] if channel.keys else "", _fetch_json)
    except requests.RequestException as exc:
        raise ValidationError(f"could not reach the upstream ({type(exc).__name__})") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        raise ValidationError("the upstream's balance answer was not understood") from None
    if balance is None:
        raise NoBalanceEndpoint("this provider has no balance endpoint")
    c = Channel.__table__.c
    with db.engine.begin() as conn:
        conn.execute(update(Channel.__table__).where(c.id == channel_id)
                     .values(balance=balance, balance_updated_time=int(time.time())))
    return balance


def testable_channel_ids() -> list[int]:
    """Channels a batch test covers: enabled and auto-disabled (manually disabled ones are left alone)."""
    c = Channel.__table__.c
    release_session()
    with db.engine.connect() as conn:
        return list(conn.execute(select(c.id).where(c.status.in_((ChannelStatus.ENABLED,
                                                                    ChannelStatus.AUTO_DISABLED)))
                                 .order_by(c.id)).scalars())


def balance_channel_ids() -> list[int]:
    c = Channel.__table__.c
    release_session()
    with db.engine.connect() as conn:
        return list(conn.execute(select(c.id).where(c.status == ChannelStatus.ENABLED).order_by(c.id)).scalars())
