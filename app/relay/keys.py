"""Relay key authentication, answered from a per-process cache.

A key is `sk-` + 48 characters; the `sk-` may be left out. An admin may pin a channel with
`sk-<key>-<channel id>`. The database stores SHA-256 of the full `sk-...` key (app.security.hash_secret).

Caches (app.cache.local_cache, dropped in every process within ~1 s of a `bump`):
- "tokens": key hash -> KeyInfo, or MISSING for an unknown hash (so a flood of bad keys costs one query
  per distinct key per process); the token service bumps "tokens" after every change.
- "users": user id -> UserInfo; whoever changes a user's status, role or group bumps "users".
Both entries also expire after CACHE_TTL seconds, a safety net for changes made behind the app's back.
Quota is NOT checked from the cache: the reservation's conditional UPDATE is the authoritative check.

Unknown, malformed, disabled and expired keys, and keys of disabled or deleted users, all get the same
401 body, so the answer never tells which keys exist.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass

from sqlalchemy import select

from app.billing.quota import release_session
from app.cache import local_cache
from app.errors import Forbidden, InsufficientQuota, Unauthorized
from app.extensions import db
from app.models import Role, Token, TokenStatus, User, UserStatus
from app.options import options
from app.security import hash_secret

CACHE_TTL = 60.0
MAX_CACHED_KEYS = 100_000
MAX_KEY_LENGTH = 128
INVALID_KEY_MESSAGE = "Incorrect API key provided. You can find your API key on the API keys page."
MISSING = object()


def invalid_key() -> Unauthorized:
    return Unauthorized(INVALID_KEY_MESSAGE, code="invalid_api_key")


@dataclass(slots=True, frozen=True)
class KeyInfo:
    token_id: int
    user_id: int
    name: str
    status: int
    expired_time: int
    unlimited: bool
    model_limits: frozenset[str] | None  # None: every model
    networks: tuple | None  # None: every address; () : none (allow_ips set but unparseable)
    group: str
    expires_at: float  # cache entry expiry (monotonic)


@dataclass(slots=True, frozen=True)
class UserInfo:
    id: int
    username: str
    role: int
    status: int
    group: str
    expires_at: float


@dataclass(slots=True)
class Caller:
    """Who is calling: the key, its user, the group used for routing and pricing, a pinned channel."""

    key: KeyInfo
    user: UserInfo
    group: str
    ip: str
    pinned_channel: int | None = None

    def check_model(self, model: str) -> None:
        limits = self.key.model_limits
        if limits is not None and model not in limits:
            raise Forbidden(f"this API key is not allowed to use the model {model}", code="model_not_allowed")


def parse_authorization(header: str | None) -> tuple[str, int | None]:
    """The full key (`sk-...`) and the pinned channel id from `Bearer sk-<key>[-<channel id>]`."""
    if not header:
        raise invalid_key()
    value = header.strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    elif value.lower() == "bearer":
        raise invalid_key()
    if value.startswith("sk-"):
        value = value[3:]
    key, sep, channel = value.partition("-")
    if not key or len(key) > MAX_KEY_LENGTH or not key.isalnum() or not key.isascii():
        raise invalid_key()
    if sep and not (channel.isdigit() and channel.isascii() and len(channel) <= 18):
        raise invalid_key()
    return "sk-" + key, int(channel) if sep else None


def _parse_networks(text: str) -> tuple | None:
    entries = [e.strip() for e in text.replace(",", "\n").splitlines() if e.strip()]
    if not entries:
        return None
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue  # an unparseable entry allows nothing; if none parse, nothing is allowed
    return tuple(networks)


def _load_key(key_hash: str):
    t = Token.__table__.c
    stmt = select(t.id, t.user_id, t.name, t.status, t.expired_time, t.unlimited_quota, t.model_limits_enabled,
                  t.model_limits, t.allow_ips, t.group_name, t.deleted_at).where(t.key_hash == key_hash)
    release_session()
    with db.engine.connect() as conn:
        row = conn.execute(stmt).first()
    if row is None or row.deleted_at is not None:
        return MISSING
    limits = None
    if row.model_limits_enabled:
        limits = frozenset(m.strip() for m in (row.model_limits or "").split(",") if m.strip())
    return KeyInfo(row.id, row.user_id, row.name or "", row.status, int(row.expired_time or -1),
                   bool(row.unlimited_quota), limits, _parse_networks(row.allow_ips or ""), row.group_name or "",
                   time.monotonic() + CACHE_TTL)


def _load_user(user_id: int) -> UserInfo | None:
    u = User.__table__.c
    stmt = select(u.id, u.username, u.role, u.status, u.group_name, u.deleted_at).where(u.id == user_id)
    release_session()
    with db.engine.connect() as conn:
        row = conn.execute(stmt).first()
    if row is None or row.deleted_at is not None:
        return None
    return UserInfo(row.id, row.username, row.role, row.status, row.group_name or "default",
                    time.monotonic() + CACHE_TTL)


def lookup_key(full_key: str) -> KeyInfo | None:
    cache = local_cache("tokens")
    key_hash = hash_secret(full_key)
    info = cache.get(key_hash)
    if info is None or (info is not MISSING and info.expires_at < time.monotonic()):
        info = _load_key(key_hash)
        if len(cache) >= MAX_CACHED_KEYS:
            cache.clear()
        cache[key_hash] = info
    return None if info is MISSING else info


def lookup_user(user_id: int) -> UserInfo | None:
    cache = local_cache("users")
    info = cache.get(user_id)
    if info is None or info.expires_at < time.monotonic():
        info = _load_user(user_id)
        if info is None:
            return None
        cache[user_id] = info
    return info


def ip_allowed(networks: tuple | None, peer: str) -> bool:
    if networks is None:
        return True
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return any(address in net or (mapped is not None and mapped in net) for net in networks)


def authenticate(authorization: str | None, peer: str) -> Caller:
    """Check the key of a relay request; raises Unauthorized/Forbidden/InsufficientQuota."""
    full_key, pinned = parse_authorization(authorization)
    key = lookup_key(full_key)
    if key is None or key.status not in (TokenStatus.ENABLED, TokenStatus.EXHAUSTED):
        raise invalid_key()
    if 0 < key.expired_time < time.time():
        raise invalid_key()
    user = lookup_user(key.user_id)
    if user is None or user.status != UserStatus.ENABLED:
        raise invalid_key()
    if key.status == TokenStatus.EXHAUSTED:
        raise InsufficientQuota("this API key has used up its quota", code="insufficient_token_quota")
    if not ip_allowed(key.networks, peer):
        raise Forbidden("this API key may not be used from your IP address", code="ip_not_allowed")
    group = key.group or user.group
    if group != user.group and group not in options().get("UserUsableGroups"):
        raise Forbidden(f"the group {group} of this API key is not available to you", code="group_not_allowed")
    if pinned is not None and user.role < Role.ADMIN:
        raise Forbidden("only administrators may choose a channel", code="channel_pinning_forbidden")
    return Caller(key, user, group, peer, pinned)
