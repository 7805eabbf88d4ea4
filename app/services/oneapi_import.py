"""Import users, API keys, channels and redemption codes from a one-api, new-api or Veloera database.

Their tables come from gorm structs (one-api model/user.go, token.go, channel.go, redemption.go; new-api adds
columns and soft deletes; Veloera, a new-api fork, adds gift codes, check-ins, per-key rate limits and channel
model prefixes). The source is read with SQLAlchemy reflection, so a column that one version lacks
is simply absent; every value is checked before it is written, and a row that does not fit is skipped with a
reason rather than stored half right.

- Users keep their bcrypt password hashes (app.services.accounts verifies them and re-hashes at the first
  sign-in), their OAuth ids, balance and counters. A user whose name (ignoring case) exists here is not
  imported again: its keys and codes attach to that account. Deleted users (one-api status 3, new-api
  deleted_at) are left behind. An imported balance writes a system log row, like every other credit.
- API keys: one-api stores the key in clear, without `sk-`; clients send `sk-<key>`. We store only
  SHA-256 of `sk-<key>` (app.security.hash_secret), so the same key keeps working and nothing readable is
  kept. The user's system access token (users.access_token, also in clear) is kept the same way.
- Channels: one-api numbers channel types differently from new-api (whose numbers we use); ONEAPI_TYPES
  maps them, and a type with no equivalent here is skipped. Abilities are rebuilt for imported channels.
- Redemption codes: one-api/new-api status 1 enabled, 2 disabled, 3 used -> ours 1, 3, 2. Veloera's gift
  codes (is_gift, max_uses, used_count) stay gift codes, and its redemption_logs (who redeemed which gift
  code) come along, so nobody redeems a gift code here that they already redeemed there.
- Veloera: flavor "veloera" (detected by redemptions.is_gift, tokens.rate_limit_enabled or
  channels.model_prefix). It numbers channel types like new-api. users.last_check_in_time is kept. Per-key
  rate limits have no equivalent here: the key is imported without one, and the summary says so. A channel
  with a model prefix is skipped (its models would be reachable under other names here).

Idempotent: users by username, keys by key hash, codes by key, channels by (type, name, key, base URL) are
skipped when they exist; gift code redemptions are imported with their code, so only the first time. One
transaction per table; nothing of a table is kept if its transaction fails.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import MetaData, Table, create_engine, func, select
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import SQLAlchemyError

from app.billing.ledger import add_system_log
from app.cache import bump
from app.config import normalize_database_url
from app.errors import ValidationError
from app.extensions import db
from app.models import Channel, Redemption, RedemptionLog, RedemptionStatus, Role, Token, User, UserStatus
from app.relay.keys import MAX_KEY_LENGTH
from app.security import hash_secret, key_hint
from app.services import channels as channel_service
from app.services.accounts import clean_email, quota_text
from app.services.redemption import MAX_GIFT_USES
from app.validation import clean_text, display_name, username

TABLES = ("users", "tokens", "channels", "redemptions", "redemption_logs")
FLAVORS = ("one-api", "new-api", "veloera")
MAX_BIGINT = 2**63 - 1
OAUTH_COLUMNS = {  # ours <- theirs (new-api renamed linux_do_id to linuxdo_id in later versions)
    "github_id": ("github_id",), "oidc_id": ("oidc_id",), "wechat_id": ("wechat_id",),
    "telegram_id": ("telegram_id",), "linux_do_id": ("linux_do_id", "linuxdo_id"),
}
# one-api channel type -> ours (new-api's numbering). One-api relay/channeltype/define.go against new-api
# constant/channel.go; the OpenAI-compatible resellers one-api knew by name become Custom with their base URL.
ONEAPI_TYPES: dict[int, int] = {
    1: 1, 3: 3, 6: 6, 7: 7, 8: 8, 9: 9, 10: 10, 12: 12, 13: 13, 14: 14, 17: 17, 20: 20, 24: 24, 25: 25,
    28: 42, 29: 29, 30: 4, 31: 31, 36: 43, 40: 45, 44: 40, 45: 48, 47: 46, 50: 8,
    2: 8, 4: 8, 5: 8,
}
ONEAPI_CUSTOM_BASE_URLS = {2: "https://oa.api2d.net", 4: "https://api.closeai-proxy.xyz",
                           5: "https://api.openai-sb.com"}
# one-api's SQL_DSN for MySQL is Go's DSN: user:password@tcp(host:port)/dbname?params
GO_MYSQL_DSN = re.compile(r"^(?P<user>[^:@/]*)(?::(?P<password>.*))?@tcp\((?P<host>[^():/]+)(?::(?P<port>\d+))?\)"
                          r"/(?P<database>[^?/]+)(?:\?.*)?$")
SOURCE_REDEMPTION_STATUS = {1: RedemptionStatus.UNUSED, 2: RedemptionStatus.DISABLED, 3: RedemptionStatus.USED}


class SourceUnreadable(ValidationError):
    """The source cannot be read as a one-api / new-api / Veloera database."""


@dataclass
class TableResult:
    imported: int = 0
    existing: int = 0
    skipped: int = 0
    notes: list[str] = field(default_factory=list)

    def skip(self, note: str) -> None:
        self.skipped += 1
        self.notes.append(note)


@dataclass
class ImportSummary:
    flavor: str
    tables: dict[str, TableResult] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """The summary as printed by `flask import-oneapi`."""
        out = [f"source: {self.flavor}"]
        for name, result in self.tables.items():
            out.append(f"{name}: {result.imported} imported, {result.existing} already here, "
                       f"{result.skipped} skipped")
            out.extend(f"  - {note}" for note in result.notes)
        return out


# -- reading the source ----------------------------------------------------------------------------------
def _int(value: Any, name: str, *, minimum: int = -MAX_BIGINT, default: int = 0) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return int(value)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{name} is not a whole number") from None
    if not minimum <= number <= MAX_BIGINT:
        raise ValidationError(f"{name} is out of range")
    return number


def _float(value: Any, name: str) -> float:
    try:
        number = float(value or 0)
    except (TypeError, ValueError):
        raise ValidationError(f"{name} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValidationError(f"{name} is not a number")
    return number


def _text(value: Any, name: str, max_len: int) -> str:
    return clean_text("" if value is None else str(value), name, max_len=max_len, nfkc=False).strip()


def _optional(value: Any, name: str, max_len: int) -> str | None:
    """Their empty string / 0 means "none"; ours is NULL."""
    if value in (None, "", 0, "0"):
        return None
    return _text(value, name, max_len) or None


def _datetime(value: Any, name: str) -> datetime | None:
    """A gorm time column (a datetime, or text on SQLite) as naive UTC, like ours."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValidationError(f"{name} is not a date and time") from None
    if not isinstance(value, datetime):
        raise ValidationError(f"{name} is not a date and time")
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _live(row: Any) -> bool:
    """False for new-api's soft-deleted rows."""
    return getattr(row, "deleted_at", None) is None


def _has(tables: dict[str, Table], table: str, column: str) -> bool:
    return table in tables and column in tables[table].c


def detect_flavor(tables: dict[str, Table]) -> str:
    """"veloera" when the tables carry columns only Veloera has, "new-api" for new-api's columns, else
    "one-api" (the flavor decides channel types and which extra columns are read)."""
    if (_has(tables, "redemptions", "is_gift") or _has(tables, "tokens", "rate_limit_enabled")
            or _has(tables, "channels", "model_prefix")):
        return "veloera"
    if _has(tables, "users", "aff_count") or _has(tables, "tokens", "model_limits_enabled"):
        return "new-api"
    return "one-api"


def _reflect(conn: Connection) -> dict[str, Table]:
    metadata = MetaData()
    try:
        metadata.reflect(conn, only=lambda name, _: name in TABLES)
    except SQLAlchemyError as exc:
        raise SourceUnreadable(f"could not read the source database: {type(exc).__name__}") from None
    tables = {name: metadata.tables[name] for name in TABLES if name in metadata.tables}
    if "users" not in tables:
        raise SourceUnreadable("the source has no users table: is it a one-api / new-api / Veloera database?")
    return tables


def _rows(conn: Connection, table: Table | None) -> list[Any]:
    if table is None:
        return []
    return list(conn.execute(select(table).order_by(table.c.id)))


# -- writing ---------------------------------------------------------------------------------------------
def _transaction(work: Callable[[], None]) -> None:
    try:
        work()
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise


def _user_ids_by_name() -> dict[str, int]:
    return {name.lower(): user_id for user_id, name in db.session.execute(select(User.id, User.username))}


def _import_users(rows: list[Any], flavor: str, result: TableResult) -> dict[int, int]:
    """Insert the users; return source user id -> our user id for every live source user (new or not)."""
    id_map: dict[int, int] = {}
    inviters: dict[int, int] = {}  # our new user id -> source inviter id

    def work() -> None:
        by_name = _user_ids_by_name()
        has_root = db.session.scalar(select(func.count()).select_from(User).where(User.role >= Role.ROOT)) > 0
        taken = {
            "aff_code": set(db.session.scalars(select(User.aff_code).where(User.aff_code.is_not(None)))),
            "access_token_hash": set(db.session.scalars(
                select(User.access_token_hash).where(User.access_token_hash.is_not(None)))),
            "email": {e.lower() for e in db.session.scalars(select(User.email).where(User.email.is_not(None)))},
        }
        for column in OAUTH_COLUMNS:
            taken[column] = set(db.session.scalars(select(getattr(User, column)).where(
                getattr(User, column).is_not(None))))
        for row in rows:
            source_id = row.id
            if not _live(row) or getattr(row, "status", 1) == 3:
                result.skip(f"user #{source_id}: deleted in the source")
                continue
            try:
                name = username(row.username)
                fields = _user_fields(row)
            except ValidationError as exc:
                result.skip(f"user #{source_id}: {exc.message}")
                continue
            existing = by_name.get(name.lower())
            if existing is not None:
                id_map[source_id] = existing
                result.existing += 1
                continue
            if fields["role"] >= Role.ROOT:
                if has_root:
                    fields["role"] = Role.ADMIN
                    result.notes.append(f"user {name}: root in the source, an administrator here (this site "
                                        "already has its root user)")
                has_root = True
            for column in ("aff_code", "access_token_hash", "email", *OAUTH_COLUMNS):
                value = fields.get(column)
                key = value.lower() if column == "email" and value else value
                if value is not None and key in taken[column]:
                    fields[column] = None
                    result.notes.append(f"user {name}: {column} left empty, another account here has it")
                elif value is not None:
                    taken[column].add(key)
            inviter = fields.pop("inviter_id")
            user = User(username=name, **fields)
            db.session.add(user)
            db.session.flush()
            if user.quota > 0:
                add_system_log(f"balance imported from {flavor}: {quota_text(user.quota)}", user,
                               quota=user.quota)
            id_map[source_id] = by_name[name.lower()] = user.id
            if inviter:
                inviters[user.id] = inviter
            result.imported += 1
        for user_id, source_inviter in inviters.items():
            if source_inviter in id_map:
                db.session.get(User, user_id).inviter_id = id_map[source_inviter]

    _transaction(work)
    return id_map


def _user_fields(row: Any) -> dict[str, Any]:
    role = _int(getattr(row, "role", 1), "role")
    access_token = _optional(getattr(row, "access_token", None), "access_token", 128)
    fields: dict[str, Any] = {
        "password": _text(row.password, "password", 255),
        "display_name": display_name(_text(getattr(row, "display_name", ""), "display_name", 64)) or None,
        "role": Role.ROOT if role >= Role.ROOT else Role.ADMIN if role >= Role.ADMIN else Role.USER,
        "status": UserStatus.DISABLED if getattr(row, "status", 1) == 2 else UserStatus.ENABLED,
        "email": clean_email(getattr(row, "email", None)),
        "quota": _int(getattr(row, "quota", 0), "quota"),
        "used_quota": _int(getattr(row, "used_quota", 0), "used_quota", minimum=0),
        "request_count": _int(getattr(row, "request_count", 0), "request_count", minimum=0),
        "group": channel_service.parse_groups(getattr(row, "group", None) or "default"),
        "aff_code": _optional(getattr(row, "aff_code", None), "aff_code", 32),
        "aff_count": _int(getattr(row, "aff_count", 0), "aff_count", minimum=0),
        "aff_quota": _int(getattr(row, "aff_quota", 0), "aff_quota", minimum=0),
        "aff_history_quota": _int(getattr(row, "aff_history", 0), "aff_history", minimum=0),
        "inviter_id": _int(getattr(row, "inviter_id", 0), "inviter_id", minimum=0),
        "setting": _optional(getattr(row, "setting", None), "setting", 65_535),
        "access_token_hash": hash_secret(access_token) if access_token else None,
        "last_check_in_time": _datetime(getattr(row, "last_check_in_time", None), "last_check_in_time"),
    }
    if "," in fields["group"]:
        raise ValidationError("group must be a single group name")
    mapping = row._mapping
    for ours, theirs in OAUTH_COLUMNS.items():
        value = next((mapping[name] for name in theirs if name in mapping), None)
        fields[ours] = _optional(value, ours, 64)
    return fields


def _token_key(value: Any) -> str:
    """`sk-<key>` as clients send it; the key must pass the relay's own check (letters and digits)."""
    key = _text(value, "key", MAX_KEY_LENGTH + 3)
    body = key[3:] if key.startswith("sk-") else key
    if not body or len(body) > MAX_KEY_LENGTH or not body.isalnum() or not body.isascii():
        raise ValidationError("the key is not in the sk-<letters and digits> format")
    return "sk-" + body


def _import_tokens(rows: list[Any], users: dict[int, int], result: TableResult) -> None:
    def work() -> None:
        known = set(db.session.scalars(select(Token.key_hash)))
        for row in rows:
            if not _live(row):
                result.skip(f"key #{row.id}: deleted in the source")
                continue
            if row.user_id not in users:
                result.skip(f"key #{row.id}: its user was not imported")
                continue
            try:
                key = _token_key(row.key)
                fields = _token_fields(row)
            except ValidationError as exc:
                result.skip(f"key #{row.id}: {exc.message}")
                continue
            key_hash = hash_secret(key)
            if key_hash in known:
                result.existing += 1
                continue
            known.add(key_hash)
            db.session.add(Token(user_id=users[row.user_id], key_hash=key_hash, key_hint=key_hint(key), **fields))
            result.imported += 1
            if getattr(row, "rate_limit_enabled", False):
                result.notes.append(f"key #{row.id} ({fields['name']}): imported without its Veloera rate limit "
                                    "(per-key rate limits do not exist here)")

    _transaction(work)
    bump("tokens")


def _token_fields(row: Any) -> dict[str, Any]:
    mapping = row._mapping
    if "model_limits_enabled" in mapping:  # new-api
        limits_on = bool(mapping["model_limits_enabled"])
        limits = mapping.get("model_limits") or ""
    else:  # one-api: `models`, empty for every model
        limits = mapping.get("models") or ""
        limits_on = bool(limits)
    allow_ips = mapping.get("allow_ips") if "allow_ips" in mapping else mapping.get("subnet")
    status = _int(getattr(row, "status", 1), "status", default=1)
    return {
        "name": _text(getattr(row, "name", ""), "name", 255),
        "status": status if status in (1, 2, 3, 4) else 2,
        "created_time": _int(getattr(row, "created_time", 0), "created_time", minimum=0) or int(time.time()),
        "accessed_time": _int(getattr(row, "accessed_time", 0), "accessed_time", minimum=0),
        "expired_time": _int(getattr(row, "expired_time", -1), "expired_time", minimum=-1, default=-1),
        "remain_quota": _int(getattr(row, "remain_quota", 0), "remain_quota"),
        "unlimited_quota": bool(getattr(row, "unlimited_quota", False)),
        "used_quota": _int(getattr(row, "used_quota", 0), "used_quota", minimum=0),
        "model_limits_enabled": limits_on,
        "model_limits": channel_service.parse_models(limits) if limits_on else "",
        "allow_ips": _text(allow_ips, "allow_ips", 1024),
        "group": _text(mapping.get("group"), "group", 64),
    }


def _import_channels(rows: list[Any], flavor: str, result: TableResult) -> None:
    def work() -> None:
        known = {(c.type, c.name, c.key, c.base_url) for c in db.session.scalars(select(Channel))}
        added: list[Channel] = []
        for row in rows:
            try:
                fields = _channel_fields(row, flavor)
            except ValidationError as exc:
                result.skip(f"channel #{row.id} ({row.name}): {exc.message}")
                continue
            identity = (fields["type"], fields["name"], fields["key"], fields["base_url"])
            if identity in known:
                result.existing += 1
                continue
            known.add(identity)
            channel = Channel(**fields)
            db.session.add(channel)
            added.append(channel)
            result.imported += 1
        channel_service.rebuild_abilities(added)

    _transaction(work)
    bump("channels")


def _channel_fields(row: Any, flavor: str) -> dict[str, Any]:
    mapping = row._mapping
    source_type = _int(mapping.get("type"), "type")
    channel_type = source_type
    base_url = mapping.get("base_url") or ""
    if flavor == "one-api":
        if source_type not in ONEAPI_TYPES:
            raise ValidationError(f"one-api channel type {source_type} has no equivalent here")
        channel_type = ONEAPI_TYPES[source_type]
        base_url = base_url or ONEAPI_CUSTOM_BASE_URLS.get(source_type, "")
    if (mapping.get("model_prefix") or "").strip():
        raise ValidationError(f"Veloera model prefix {mapping['model_prefix'].strip()!r} has no equivalent here; "
                              "add this channel by hand")
    keys = channel_service.parse_keys(mapping.get("key") or "")
    if not keys:
        raise ValidationError("the channel has no key")
    editable = {name: mapping[name] for name in (
        "name", "models", "group", "model_mapping", "status_code_mapping", "priority", "weight", "auto_ban", "tag",
        "test_model", "other", "param_override", "header_override",
    ) if name in mapping and mapping[name] is not None and mapping[name] != ""}
    editable["type"] = channel_type
    if "other" not in editable and mapping.get("config"):  # later one-api keeps the API version in `config`
        try:
            config = json.loads(mapping["config"])
        except (TypeError, ValueError, RecursionError):
            config = None
        if isinstance(config, dict) and isinstance(config.get("api_version"), str) and config["api_version"]:
            editable["other"] = config["api_version"]
    editable["base_url"] = base_url
    fields = channel_service.parse_channel_fields(editable)
    status = _int(mapping.get("status"), "status", default=1)
    fields.update({
        "key": "\n".join(keys),
        "name": fields.get("name", ""),
        "models": fields.get("models", ""),
        "group": fields.get("group", "default"),
        "status": status if status in (1, 2, 3) else 2,
        "created_time": _int(mapping.get("created_time"), "created_time", minimum=0) or int(time.time()),
        "test_time": _int(mapping.get("test_time"), "test_time", minimum=0),
        "response_time": _int(mapping.get("response_time"), "response_time", minimum=0),
        "balance": _float(mapping.get("balance"), "balance"),
        "balance_updated_time": _int(mapping.get("balance_updated_time"), "balance_updated_time", minimum=0),
        "used_quota": _int(mapping.get("used_quota"), "used_quota", minimum=0),
        # gorm names the OpenAIOrganization field open_ai_organization; some schemas were made by hand
        "openai_organization": _optional(mapping.get("openai_organization") or mapping.get("open_ai_organization"),
                                         "openai_organization", 255),
    })
    return fields


def _gift_fields(mapping: Any) -> dict[str, Any]:
    """Veloera's gift code columns as ours: max_uses -1 (unlimited) or 1..MAX_GIFT_USES, used_count >= 0."""
    if not mapping.get("is_gift"):
        return {}
    max_uses = _int(mapping.get("max_uses"), "max_uses", minimum=-1, default=-1)
    if max_uses == 0 or max_uses > MAX_GIFT_USES:
        raise ValidationError("max_uses must be -1 (unlimited) or between 1 and 1000000000")
    return {"is_gift": True, "max_uses": max_uses,
            "used_count": _int(mapping.get("used_count"), "used_count", minimum=0)}


def _import_redemptions(rows: list[Any], users: dict[int, int], result: TableResult) -> dict[int, Redemption]:
    """Insert the codes; return source code id -> the gift codes imported now (their redemptions follow)."""
    gifts: dict[int, Redemption] = {}

    def work() -> None:
        known = set(db.session.scalars(select(Redemption.key)))
        for row in rows:
            if not _live(row):
                result.skip(f"redemption code #{row.id}: deleted in the source")
                continue
            mapping = row._mapping
            try:
                key = _text(mapping.get("key"), "key", 64)
                if not key:
                    raise ValidationError("the code is empty")
                status = SOURCE_REDEMPTION_STATUS.get(_int(mapping.get("status"), "status", default=1))
                if status is None:
                    raise ValidationError("unknown status")
                creator = _int(mapping.get("user_id"), "user_id")
                redeemer = _int(mapping.get("used_user_id"), "used_user_id")
                fields = {
                    "name": _text(mapping.get("name"), "name", 255),
                    "quota": _int(mapping.get("quota"), "quota", minimum=0),
                    "created_time": _int(mapping.get("created_time"), "created_time", minimum=0),
                    "redeemed_time": _int(mapping.get("redeemed_time"), "redeemed_time", minimum=0),
                    "valid_until": max(_int(mapping.get("expired_time"), "expired_time", minimum=-1), 0),
                }
                gift = _gift_fields(mapping)
            except ValidationError as exc:
                result.skip(f"redemption code #{row.id}: {exc.message}")
                continue
            if key in known:
                result.existing += 1
                continue
            known.add(key)
            if gift:  # who redeemed it is in redemption_logs, not used_user_id
                code = Redemption(key=key, status=status, user_id=users.get(creator), **gift, **fields)
                gifts[row.id] = code
            else:
                used = status == RedemptionStatus.USED
                code = Redemption(key=key, status=status, user_id=users.get(creator),
                                  used_user_id=users.get(redeemer) if used else None,
                                  used_count=1 if used else 0, max_uses=-1, **fields)
            db.session.add(code)
            result.imported += 1

    _transaction(work)
    return gifts


def _import_redemption_logs(rows: list[Any], gifts: dict[int, Redemption], users: dict[int, int],
                            result: TableResult) -> None:
    """Veloera's record of who redeemed which gift code, for the gift codes imported in this run (a code
    imported by an earlier run brought its records then)."""
    def work() -> None:
        seen: set[tuple[int, int]] = set()
        for row in rows:
            mapping = row._mapping
            code = gifts.get(mapping.get("redemption_id"))
            if code is None:
                result.existing += 1
                continue
            user_id = users.get(mapping.get("user_id"))
            if user_id is None:
                result.skip(f"gift code redemption #{row.id}: its user was not imported")
                continue
            try:
                used_time = _int(mapping.get("used_time"), "used_time", minimum=0)
            except ValidationError as exc:
                result.skip(f"gift code redemption #{row.id}: {exc.message}")
                continue
            if (code.id, user_id) in seen:
                result.skip(f"gift code redemption #{row.id}: a second redemption of one code by one user")
                continue
            seen.add((code.id, user_id))
            db.session.add(RedemptionLog(redemption_id=code.id, user_id=user_id, used_time=used_time,
                                         quota=code.quota))
            result.imported += 1

    _transaction(work)


# -- the whole import ------------------------------------------------------------------------------------
def source_url(text: str) -> str | URL:
    """A SQLAlchemy URL for `text`: a URL (postgres:// and mysql:// work) or one-api's Go MySQL DSN."""
    text = text.strip()
    match = GO_MYSQL_DSN.match(text)
    if match is None:
        return normalize_database_url(text)
    return URL.create("mysql+pymysql", username=match["user"] or None, password=match["password"],
                      host=match["host"], port=int(match["port"]) if match["port"] else None,
                      database=match["database"])


def import_database(database: str, *, flavor: str = "auto") -> ImportSummary:
    """Import everything from the database at `database` (see `source_url` for the forms it takes).

    Raises SourceUnreadable (a ValidationError) when the source cannot be read or has no users table; after that,
    each table commits on its own, and rows that do not fit are counted and explained in the summary.
    """
    if flavor != "auto" and flavor not in FLAVORS:
        raise ValidationError('flavor must be "auto", "one-api", "new-api" or "veloera"')
    try:
        engine = create_engine(source_url(database))
    except (SQLAlchemyError, ValueError) as exc:
        raise SourceUnreadable(f"not a usable database URL ({type(exc).__name__})") from None
    try:
        with engine.connect() as conn:
            tables = _reflect(conn)
            summary = ImportSummary(flavor=detect_flavor(tables) if flavor == "auto" else flavor)
            rows = {name: _rows(conn, tables.get(name)) for name in TABLES}
    except SQLAlchemyError as exc:
        raise SourceUnreadable(f"could not read the source database: {type(exc).__name__}") from None
    finally:
        engine.dispose()

    summary.tables = {name: TableResult() for name in TABLES}
    users = _import_users(rows["users"], summary.flavor, summary.tables["users"])
    _import_tokens(rows["tokens"], users, summary.tables["tokens"])
    _import_channels(rows["channels"], summary.flavor, summary.tables["channels"])
    gifts = _import_redemptions(rows["redemptions"], users, summary.tables["redemptions"])
    _import_redemption_logs(rows["redemption_logs"], gifts, users, summary.tables["redemption_logs"])
    bump("users")
    return summary
