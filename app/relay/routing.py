"""Choose a channel for (group, model), from a routing table cached per process.

The table is built in one go from the enabled abilities of enabled channels and kept in
`local_cache("channels")` until someone calls `bump("channels")` (channel CRUD, health, tests): a warm
request reads no database. Choice: the highest priority level that still has a channel not tried yet,
then weighted random inside it with weight + 1, so a weight-0 channel stays selectable (and all-zero
weights are uniform). Multi-key channels pick one enabled key at random or round-robin
(`multi_key_mode` "polling"/"round_robin"; round-robin counters are per process).
"""

from __future__ import annotations

import itertools
import json
import logging
import random
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from app.billing.quota import release_session
from app.cache import local_cache
from app.extensions import db
from app.models import Ability, Channel, ChannelStatus
from app.relay.types import ChannelInfo

log = logging.getLogger(__name__)

Tier = tuple[int, list[tuple[int, int]]]  # (priority, [(channel id, weight), ...])
_round_robin: dict[int, itertools.count] = {}


@dataclass(slots=True)
class RoutingTable:
    channels: dict[int, ChannelInfo] = field(default_factory=dict)  # enabled channels with a usable key
    routes: dict[tuple[str, str], list[Tier]] = field(default_factory=dict)  # sorted by priority, highest first
    group_models: dict[str, set[str]] = field(default_factory=dict)
    active_keys: dict[int, list[int]] = field(default_factory=dict)


def _json_object(text: str | None, what: str, channel_id: int) -> dict[str, Any]:
    if not text or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        log.warning("channel %s: %s is not valid JSON; ignored", channel_id, what)
        return {}
    if not isinstance(value, dict):
        log.warning("channel %s: %s is not a JSON object; ignored", channel_id, what)
        return {}
    return value


def channel_info(row: Any) -> ChannelInfo:
    """A ChannelInfo from a `channels` row (ORM object or Core row with the model's attribute names)."""
    cid = row.id
    other_info = _json_object(row.other_info, "other_info", cid)
    key_status = other_info.get("key_status") if isinstance(other_info.get("key_status"), dict) else {}
    mapping = {str(k): str(v) for k, v in _json_object(row.model_mapping, "model_mapping", cid).items()
               if isinstance(v, str) and v}
    headers = {str(k): str(v) for k, v in _json_object(row.header_override, "header_override", cid).items()}
    return ChannelInfo(
        id=cid, type=row.type, name=row.name or "", base_url=(row.base_url or "").strip(),
        keys=tuple(k.strip() for k in (row.key or "").splitlines() if k.strip()),
        key_status={str(k): int(v) for k, v in key_status.items() if isinstance(v, int)},
        multi_key_mode=row.multi_key_mode or "random", model_mapping=mapping,
        param_override=_json_object(row.param_override, "param_override", cid), header_override=headers,
        settings=_json_object(row.other, "other", cid),
        status_code_mapping={str(k): str(v) for k, v in
                             _json_object(row.status_code_mapping, "status_code_mapping", cid).items()},
        organization=row.openai_organization or None, auto_ban=bool(row.auto_ban), status=row.status,
        priority=int(row.priority or 0), weight=int(row.weight or 0), test_model=row.test_model or None,
        models=tuple(m.strip() for m in (row.models or "").split(",") if m.strip()),
        groups=tuple(g.strip() for g in (row.group or "").split(",") if g.strip()),
    )


def channel_columns():
    """SELECT of the channel columns `channel_info` reads, labelled with the model's attribute names."""
    c = Channel.__table__.c
    return select(c.id, c.type, c.name, c.base_url, c.key_value.label("key"), c.status, c.other_info,
                  c.model_mapping, c.header_override, c.param_override, c.other, c.status_code_mapping,
                  c.multi_key_mode, c.openai_organization, c.auto_ban, c.priority, c.weight, c.test_model,
                  c.models, c.group_name.label("group"))


def load_table() -> RoutingTable:
    """Read every enabled channel and ability (two queries) into a RoutingTable."""
    table = RoutingTable()
    a = Ability.__table__.c
    release_session()
    with db.engine.connect() as conn:
        rows = conn.execute(channel_columns().where(Channel.__table__.c.status == ChannelStatus.ENABLED)).all()
        abilities = conn.execute(select(a.group_name, a.model, a.channel_id, a.priority, a.weight)
                                 .where(a.enabled.is_(True))).all()
    for row in rows:
        info = channel_info(row)
        active = info.enabled_key_indexes()
        if active:
            table.channels[info.id] = info
            table.active_keys[info.id] = active
    tiers: dict[tuple[str, str], dict[int, list[tuple[int, int]]]] = {}
    for group, model, channel_id, priority, weight in abilities:
        if channel_id not in table.channels:
            continue
        tiers.setdefault((group, model), {}).setdefault(int(priority or 0), []).append(
            (channel_id, max(int(weight or 0), 0)))
        table.group_models.setdefault(group, set()).add(model)
    for route, levels in tiers.items():
        table.routes[route] = sorted(levels.items(), key=lambda item: -item[0])
    return table


def table() -> RoutingTable:
    """This process's routing table, rebuilt after a bump("channels")."""
    cache = local_cache("channels")
    current = cache.get("table")
    if current is None:
        current = load_table()
        cache["table"] = current
    return current


def has_route(group: str, model: str) -> bool:
    return (group, model) in table().routes


def pick(group: str, model: str, exclude: list[int] | tuple[int, ...] = ()) -> ChannelInfo | None:
    """A channel for (group, model) not in `exclude`: highest priority first, weighted random inside."""
    current = table()
    for _priority, members in current.routes.get((group, model), ()):
        candidates = [m for m in members if m[0] not in exclude] if exclude else members
        if not candidates:
            continue
        if len(candidates) == 1:
            return current.channels[candidates[0][0]]
        total = sum(w + 1 for _, w in candidates)
        point = random.random() * total
        for channel_id, weight in candidates:
            point -= weight + 1
            if point < 0:
                return current.channels[channel_id]
        return current.channels[candidates[-1][0]]
    return None


def get_channel(channel_id: int) -> ChannelInfo | None:
    """An enabled channel by id (admin pinning), or None."""
    return table().channels.get(channel_id)


def channels_by_id(ids: set[int]) -> dict[int, ChannelInfo]:
    """Channels by id whatever their status (read from the database): a disabled channel's running tasks
    still finish, and their results can still be fetched."""
    if not ids:
        return {}
    release_session()
    with db.engine.connect() as conn:
        rows = conn.execute(channel_columns().where(Channel.__table__.c.id.in_(ids))).all()
    return {row.id: channel_info(row) for row in rows}


def select_key(channel: ChannelInfo) -> tuple[int, str]:
    """(index, key) of the key to use on `channel`."""
    keys = channel.keys
    active = table().active_keys.get(channel.id) or channel.enabled_key_indexes() or [0]
    if len(active) == 1:
        index = active[0]
    elif channel.multi_key_mode in ("polling", "round_robin"):
        counter = _round_robin.get(channel.id)
        if counter is None:
            counter = _round_robin.setdefault(channel.id, itertools.count())
        index = active[next(counter) % len(active)]
    else:
        index = random.choice(active)
    return index, keys[index] if index < len(keys) else ""


def models_for(group: str, limits: frozenset[str] | None = None) -> list[str]:
    """Models a key in `group` may use: enabled abilities of the group, filtered by the key's limits."""
    models = table().group_models.get(group, set())
    if limits is not None:
        models = models & limits
    return sorted(models)


def owner_of(group: str, model: str) -> int | None:
    """The channel type serving `model` first for `group` (for /v1/models' owned_by)."""
    current = table()
    for _priority, members in current.routes.get((group, model), ()):
        for channel_id, _ in members:
            return current.channels[channel_id].type
    return None
