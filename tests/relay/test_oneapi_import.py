"""`flask import-oneapi`: a real one-api database (the tables gorm makes from one-api's model/*.go structs) on
SQLite, PostgreSQL and MariaDB is imported; then the old password signs in and the old key calls the relay
against the mock upstream. A new-api database (its extra columns, soft deletes, its channel numbering) too."""

from __future__ import annotations

import json
from datetime import datetime

import bcrypt
import pytest
from sqlalchemy import MetaData, create_engine, func, make_url, select, text

from app.extensions import db
from app.models import (
    Ability,
    Channel,
    Log,
    LogType,
    Redemption,
    RedemptionLog,
    RedemptionStatus,
    Role,
    Token,
    User,
    UserStatus,
)
from app.security import hash_secret
from app.services.oneapi_import import source_url
from tests.factories import make_user
from tests.relay.conftest import UPSTREAM_KEY, release, set_options

ALICE_KEY = "Zq8mK2vN5xR7tY1wB4cD6fG9hJ3kL0pQ2sU4vX6zA8bC1dE3"  # 48 letters and digits, as one-api makes them
LIMITED_KEY = "Lm3nP5qR7sT9uV1wX3yZ5aB7cD9eF1gH3iJ5kL7mN9oP1qR3"
ORPHAN_KEY = "Or9phAn0keyOfAdeletedUser00000000000000000000000"
ALICE_ACCESS_TOKEN = "0123456789abcdef0123456789abcdef"


def go_bcrypt(plain: str) -> str:
    """A hash as one-api's common.Password2Hash writes it (golang.org/x/crypto/bcrypt, cost 10, $2a$)."""
    return "$2a$" + bcrypt.hashpw(plain.encode(), bcrypt.gensalt(10)).decode()[4:]


def oneapi_schema(q: str) -> list[str]:
    """one-api v0.6's tables as gorm's AutoMigrate creates them (model/user.go, token.go, channel.go,
    redemption.go, ability.go, option.go); `q` is the dialect's identifier quote."""
    return [
        f"CREATE TABLE {q}users{q} (id bigint PRIMARY KEY, username varchar(191) UNIQUE, password text NOT NULL, "
        f"display_name varchar(191), role bigint DEFAULT 1, status bigint DEFAULT 1, email varchar(191), "
        f"github_id varchar(191), wechat_id varchar(191), lark_id varchar(191), oidc_id varchar(191), "
        f"access_token char(32), quota bigint DEFAULT 0, used_quota bigint DEFAULT 0, "
        f"request_count bigint DEFAULT 0, {q}group{q} varchar(32) DEFAULT 'default', aff_code varchar(32), "
        f"inviter_id bigint)",
        f"CREATE UNIQUE INDEX idx_users_access_token ON {q}users{q} (access_token)",
        f"CREATE UNIQUE INDEX idx_users_aff_code ON {q}users{q} (aff_code)",
        f"CREATE TABLE {q}tokens{q} (id bigint PRIMARY KEY, user_id bigint, {q}key{q} char(48), "
        f"status bigint DEFAULT 1, name varchar(191), created_time bigint, accessed_time bigint, "
        f"expired_time bigint DEFAULT -1, remain_quota bigint DEFAULT 0, unlimited_quota boolean DEFAULT false, "
        f"used_quota bigint DEFAULT 0, models text, subnet varchar(191) DEFAULT '')",
        f"CREATE UNIQUE INDEX idx_tokens_key ON {q}tokens{q} ({q}key{q})",
        f"CREATE TABLE {q}channels{q} (id bigint PRIMARY KEY, type bigint DEFAULT 0, {q}key{q} text, "
        f"status bigint DEFAULT 1, name varchar(191), weight bigint DEFAULT 0, created_time bigint, "
        f"test_time bigint, response_time bigint, base_url varchar(191) DEFAULT '', other text, "
        f"balance double precision, balance_updated_time bigint, models text, "
        f"{q}group{q} varchar(32) DEFAULT 'default', used_quota bigint DEFAULT 0, "
        f"model_mapping varchar(1024) DEFAULT '', priority bigint DEFAULT 0, config text, system_prompt text)",
        f"CREATE TABLE {q}redemptions{q} (id bigint PRIMARY KEY, user_id bigint, {q}key{q} char(32), "
        f"status bigint DEFAULT 1, name varchar(191), quota bigint DEFAULT 100, created_time bigint, "
        f"redeemed_time bigint)",
        f"CREATE UNIQUE INDEX idx_redemptions_key ON {q}redemptions{q} ({q}key{q})",
        f"CREATE TABLE {q}abilities{q} ({q}group{q} varchar(32), model varchar(191), channel_id bigint, "
        f"enabled boolean, priority bigint DEFAULT 0, PRIMARY KEY ({q}group{q}, model, channel_id))",
        f"CREATE TABLE {q}options{q} ({q}key{q} varchar(191) PRIMARY KEY, value text)",
    ]


def oneapi_rows(upstream_origin: str) -> dict[str, list[dict]]:
    user = {"display_name": "", "email": "", "github_id": "", "wechat_id": "", "lark_id": "", "oidc_id": "",
            "access_token": None, "quota": 0, "used_quota": 0, "request_count": 0, "group": "default",
            "aff_code": None, "inviter_id": 0, "role": 1, "status": 1}
    token = {"status": 1, "created_time": 1700000000, "accessed_time": 0, "expired_time": -1, "remain_quota": 0,
             "unlimited_quota": False, "used_quota": 0, "models": "", "subnet": ""}
    channel = {"status": 1, "weight": 0, "created_time": 1700000000, "test_time": 0, "response_time": 0,
               "base_url": "", "other": "", "balance": 0, "balance_updated_time": 0, "group": "default",
               "used_quota": 0, "model_mapping": "", "priority": 0, "config": "", "system_prompt": None}
    return {
        "users": [
            {**user, "id": 1, "username": "root", "password": go_bcrypt("123456"), "display_name": "Root User",
             "role": 100, "access_token": "f" * 32, "aff_code": "RooT"},
            {**user, "id": 2, "username": "alice", "password": go_bcrypt("alice-old-pass"), "display_name": "Alice",
             "email": "alice@example.com", "github_id": "1001", "access_token": ALICE_ACCESS_TOKEN,
             "quota": 500_000, "used_quota": 1234, "request_count": 7, "group": "vip", "aff_code": "AbCd",
             "inviter_id": 1},
            {**user, "id": 3, "username": "bob", "password": go_bcrypt("bob-old-pass"), "status": 2},
            {**user, "id": 4, "username": "deleted_7f3c2a", "password": go_bcrypt("gone-pass"), "status": 3},
            {**user, "id": 5, "username": "carol", "password": "", "oidc_id": "idp|carol", "quota": 10},
            {**user, "id": 6, "username": "bad name", "password": go_bcrypt("whatever-pass")},
        ],
        "tokens": [
            {**token, "id": 1, "user_id": 2, "key": ALICE_KEY, "name": "laptop", "unlimited_quota": True,
             "used_quota": 99},
            {**token, "id": 2, "user_id": 2, "key": LIMITED_KEY, "name": "limited", "remain_quota": 5000,
             "models": "gpt-4o-mini,gpt-4o", "subnet": "10.0.0.0/8", "expired_time": 4102444800},
            {**token, "id": 3, "user_id": 4, "key": ORPHAN_KEY, "name": "of a deleted user"},
            {**token, "id": 4, "user_id": 2, "key": "not-a-key-with-dashes", "name": "broken"},
        ],
        "channels": [
            {**channel, "id": 1, "type": 1, "key": UPSTREAM_KEY, "name": "openai main", "base_url": upstream_origin,
             "models": "gpt-4o-mini", "group": "default,vip", "priority": 5, "weight": 3,
             "model_mapping": '{"gpt-4o-mini-alias": "gpt-4o-mini"}'},
            {**channel, "id": 2, "type": 36, "key": "sk-deepseek", "name": "deepseek", "models": "deepseek-chat",
             "status": 2},
            {**channel, "id": 3, "type": 2, "key": "fk-api2d", "name": "api2d", "models": "gpt-3.5-turbo"},
            {**channel, "id": 4, "type": 3, "key": "azure-key", "name": "azure", "models": "gpt-4o",
             "base_url": "https://example.openai.azure.com", "other": "2024-02-01"},
            {**channel, "id": 5, "type": 15, "key": "baidu|secret", "name": "ernie", "models": "ERNIE-4.0"},
        ],
        "redemptions": [
            {"id": 1, "user_id": 1, "key": "c" * 32, "status": 1, "name": "promo", "quota": 1000,
             "created_time": 1700000000, "redeemed_time": 0},
            {"id": 2, "user_id": 1, "key": "d" * 32, "status": 3, "name": "spent", "quota": 2000,
             "created_time": 1700000000, "redeemed_time": 1700000500},
            {"id": 3, "user_id": 1, "key": "e" * 32, "status": 2, "name": "off", "quota": 3000,
             "created_time": 1700000000, "redeemed_time": 0},
        ],
    }


def build_source(url: str, rows: dict[str, list[dict]], schema: list[str]) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        for statement in schema:
            conn.execute(text(statement))
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.begin() as conn:
        for table, values in rows.items():
            for row in values:  # one by one: rows may leave out different columns
                conn.execute(metadata.tables[table].insert(), row)
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def oneapi_url(request, tmp_path, mock_upstream):
    """A one-api database filled with users, keys, channels and codes, on each engine."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'one-api.db'}"
    else:
        url = request.getfixturevalue(f"{request.param}_db_factory")()
    quote = "`" if request.param == "mysql" else '"'  # gorm quotes with backticks on MySQL
    build_source(url, oneapi_rows(mock_upstream.origin), oneapi_schema(quote))
    return url


def run_import(app, url: str, *extra: str):
    result = app.test_cli_runner().invoke(args=["import-oneapi", "--database-url", url, *extra])
    release()
    return result


def user_named(name: str) -> User:
    db.session.commit()
    return db.session.scalar(select(User).where(User.username == name))


def go_dsn(url: str) -> str:
    """A MySQL URL as one-api's SQL_DSN writes it (Go's driver format)."""
    parts = make_url(url)
    return f"{parts.username}:{parts.password or ''}@tcp({parts.host}:{parts.port})/{parts.database}?parseTime=true"


def test_import_then_old_password_and_old_key_work(app, oneapi_url, relay_url, sdk, mock_upstream):
    make_user("root", role=Role.ROOT)  # this site's own root, made at setup
    if oneapi_url.startswith("mysql"):
        oneapi_url = go_dsn(oneapi_url)  # as copied from one-api's SQL_DSN
    result = run_import(app, oneapi_url)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "source: one-api" in out
    assert "users: 3 imported, 1 already here, 2 skipped" in out
    assert "user #4: deleted in the source" in out and "user #6: username may contain" in out
    assert "tokens: 2 imported, 0 already here, 2 skipped" in out
    assert "key #3: its user was not imported" in out and "key #4: the key is not in the sk-" in out
    assert "channels: 4 imported, 0 already here, 1 skipped" in out
    assert "channel #5 (ernie): one-api channel type 15 has no equivalent here" in out
    assert "redemptions: 3 imported, 0 already here, 0 skipped" in out

    alice = user_named("alice")
    assert (alice.display_name, alice.email, alice.github_id, alice.group) == ("Alice", "alice@example.com", "1001",
                                                                             "vip")
    assert (alice.quota, alice.used_quota, alice.request_count, alice.aff_code) == (500_000, 1234, 7, "AbCd")
    assert alice.role == Role.USER and alice.status == UserStatus.ENABLED and alice.password.startswith("$2a$")
    assert alice.inviter_id == user_named("root").id  # the existing root took one-api's root's place
    assert alice.access_token_hash == hash_secret(ALICE_ACCESS_TOKEN)
    assert user_named("bob").status == UserStatus.DISABLED
    carol = user_named("carol")
    assert (carol.password, carol.oidc_id, carol.github_id) == ("", "idp|carol", None)
    assert user_named("deleted_7f3c2a") is None
    credits = db.session.scalars(select(Log).where(Log.user_id == alice.id, Log.type == LogType.SYSTEM)).all()
    assert [entry.quota for entry in credits] == [500_000]

    limited = db.session.scalar(select(Token).where(Token.key_hash == hash_secret("sk-" + LIMITED_KEY)))
    assert (limited.user_id, limited.remain_quota, limited.unlimited_quota) == (alice.id, 5000, False)
    assert (limited.model_limits_enabled, limited.model_limits) == (True, "gpt-4o-mini,gpt-4o")
    assert (limited.allow_ips, limited.expired_time, limited.key_hint) == ("10.0.0.0/8", 4102444800, "Lm3n|1qR3")
    assert db.session.scalar(select(func.count()).select_from(Token).where(Token.key_hash.like("%sk-%"))) == 0

    channels = {c.name: c for c in db.session.scalars(select(Channel))}
    main = channels["openai main"]
    assert (main.type, main.key, main.group, main.priority, main.weight) == (1, UPSTREAM_KEY, "default,vip", 5, 3)
    assert (channels["deepseek"].type, channels["deepseek"].status) == (43, 2)
    assert (channels["api2d"].type, channels["api2d"].base_url) == (8, "https://oa.api2d.net")
    assert (channels["azure"].type, json.loads(channels["azure"].other)) == (3, {"api_version": "2024-02-01"})
    assert {(a.group, a.model) for a in db.session.scalars(select(Ability).where(Ability.channel_id == main.id))} \
        == {("default", "gpt-4o-mini"), ("vip", "gpt-4o-mini")}

    codes = {r.name: r for r in db.session.scalars(select(Redemption))}
    assert (codes["promo"].status, codes["spent"].status, codes["off"].status) == (
        RedemptionStatus.UNUSED, RedemptionStatus.USED, RedemptionStatus.DISABLED)
    release()

    # The old password signs in once and is re-hashed to ours.
    client = app.test_client()
    login = client.post("/api/user/login", json={"username": "alice", "password": "alice-old-pass"})
    assert login.status_code == 200, login.get_json()
    assert user_named("alice").password.startswith("scrypt:")
    release()
    # The old system access token still manages the account.
    me = app.test_client().get("/api/user/self", headers={"Authorization": f"Bearer {ALICE_ACCESS_TOKEN}"})
    assert me.status_code == 200 and me.get_json()["data"]["username"] == "alice"

    # The old key calls the relay, routed to the imported channel and billed to alice.
    set_options(ModelRatio={"gpt-4o-mini": 1}, CompletionRatio={"gpt-4o-mini": 1}, PreConsumedQuota=0)
    reply = sdk("sk-" + ALICE_KEY).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content
    assert mock_upstream.last_request.api_key == UPSTREAM_KEY
    db.session.commit()
    assert user_named("alice").quota < 500_000

    # Running it again imports nothing twice.
    again = run_import(app, oneapi_url)
    assert again.exit_code == 0, again.output
    assert "users: 0 imported, 4 already here, 2 skipped" in again.output
    assert "tokens: 0 imported, 2 already here, 2 skipped" in again.output
    assert "channels: 0 imported, 4 already here, 1 skipped" in again.output
    assert "redemptions: 0 imported, 3 already here, 0 skipped" in again.output
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(User)) == 4
    assert db.session.scalar(select(func.count()).select_from(Channel)) == 4


def newapi_rows() -> tuple[list[str], dict[str, list[dict]]]:
    """new-api's extra columns: aff_count/aff_quota/aff_history, linux_do_id, setting and deleted_at on users;
    model_limits_enabled/model_limits/allow_ips/group and deleted_at on tokens; its own channel numbers."""
    schema = [
        'CREATE TABLE "users" (id integer PRIMARY KEY, username text UNIQUE, password text NOT NULL, '
        'display_name text, role integer DEFAULT 1, status integer DEFAULT 1, email text, github_id text, '
        'oidc_id text, wechat_id text, telegram_id text, linux_do_id text, access_token char(32), '
        'quota integer DEFAULT 0, used_quota integer DEFAULT 0, request_count integer DEFAULT 0, '
        '"group" varchar(64) DEFAULT \'default\', aff_code varchar(32), aff_count integer DEFAULT 0, '
        'aff_quota integer DEFAULT 0, aff_history integer DEFAULT 0, inviter_id integer, setting text, '
        'deleted_at datetime)',
        'CREATE TABLE "tokens" (id integer PRIMARY KEY, user_id integer, "key" char(48), status integer DEFAULT 1, '
        'name text, created_time integer, accessed_time integer, expired_time integer DEFAULT -1, '
        'remain_quota integer DEFAULT 0, unlimited_quota numeric DEFAULT false, model_limits_enabled numeric, '
        'model_limits varchar(1024), allow_ips text, used_quota integer DEFAULT 0, "group" text DEFAULT \'\', '
        'deleted_at datetime)',
        'CREATE TABLE "channels" (id integer PRIMARY KEY, type integer DEFAULT 0, "key" text NOT NULL, '
        'status integer DEFAULT 1, name text, weight integer DEFAULT 0, created_time integer, base_url text, '
        'other text, models text, "group" varchar(64) DEFAULT \'default\', model_mapping text, '
        'priority integer DEFAULT 0, auto_ban integer DEFAULT 1, tag text, test_model text)',
    ]
    rows = {
        "users": [
            {"id": 1, "username": "dora", "password": go_bcrypt("dora-old-pass"), "linux_do_id": "4242",
             "telegram_id": "0", "aff_code": "DoRa", "aff_count": 2, "aff_quota": 300, "aff_history": 900,
             "quota": 0, "setting": '{"notify_type": "email"}', "deleted_at": None},
            {"id": 2, "username": "erased", "password": go_bcrypt("erased-pass"), "deleted_at": datetime(2025, 1, 1)},
        ],
        "tokens": [
            {"id": 1, "user_id": 1, "key": "Nw" * 24, "name": "k", "model_limits_enabled": 1,
             "model_limits": "deepseek-chat", "allow_ips": "", "group": "vip", "deleted_at": None},
            {"id": 2, "user_id": 1, "key": "Dl" * 24, "name": "gone", "deleted_at": datetime(2025, 1, 1)},
        ],
        "channels": [
            {"id": 1, "type": 43, "key": "sk-ds", "name": "deepseek", "models": "deepseek-chat", "tag": "cn",
             "auto_ban": 0},
        ],
    }
    return schema, rows


def test_new_api_database(app, tmp_path):
    url = f"sqlite:///{tmp_path / 'new-api.db'}"
    schema, rows = newapi_rows()
    build_source(url, rows, schema)
    result = run_import(app, url)
    assert result.exit_code == 0, result.output
    assert "source: new-api" in result.output
    assert "users: 1 imported, 0 already here, 1 skipped" in result.output
    assert "tokens: 1 imported, 0 already here, 1 skipped" in result.output
    dora = user_named("dora")
    assert (dora.linux_do_id, dora.telegram_id, dora.aff_count, dora.aff_quota, dora.aff_history_quota) == (
        "4242", None, 2, 300, 900)
    token = db.session.scalar(select(Token))
    assert (token.model_limits_enabled, token.model_limits, token.group) == (True, "deepseek-chat", "vip")
    channel = db.session.scalar(select(Channel))
    assert (channel.type, channel.tag, channel.auto_ban) == (43, "cn", 0)  # new-api numbering kept


def test_an_unreadable_source_changes_nothing(app, tmp_path):
    empty = tmp_path / "empty.db"
    create_engine(f"sqlite:///{empty}").connect().close()
    result = run_import(app, f"sqlite:///{empty}")
    assert result.exit_code != 0 and "no users table" in result.output
    bad = run_import(app, "nosuchdriver://x")
    assert bad.exit_code != 0 and "not a usable database URL" in bad.output
    assert db.session.scalar(select(func.count()).select_from(User)) == 0



@pytest.mark.parametrize(("dsn", "expected"), [
    ("root:p@ss:w@rd@tcp(db.local:3307)/oneapi?charset=utf8mb4&parseTime=True",
     ("mysql+pymysql", "root", "p@ss:w@rd", "db.local", 3307, "oneapi")),
    ("oneapi@tcp(localhost)/one", ("mysql+pymysql", "oneapi", None, "localhost", None, "one")),
])
def test_one_apis_go_mysql_dsn_is_understood(dsn, expected):
    url = source_url(dsn)
    assert (url.drivername, url.username, url.password, url.host, url.port, url.database) == expected


def test_urls_pass_through_with_our_drivers():
    assert source_url(" postgres://u:p@h/d ") == "postgresql+psycopg://u:p@h/d"
    assert source_url("sqlite:////data/one-api.db") == "sqlite:////data/one-api.db"


VELOERA_KEY = "Ve1oeraKeyOfDora000000000000000000000000000000AB"
LIMITED_VELOERA_KEY = "Ve1oeraRateLimited000000000000000000000000000000"


def veloera_schema() -> list[str]:
    """Veloera's tables as gorm's AutoMigrate makes them on SQLite from model/user.go, token.go, channel.go and
    redemption.go (gorm's column names: OpenAIOrganization -> open_ai_organization, AffHistoryQuota ->
    aff_history; bool -> numeric, time.Time -> datetime)."""
    return [
        'CREATE TABLE "users" (id integer PRIMARY KEY, username text UNIQUE, password text NOT NULL, '
        'display_name text, role integer DEFAULT 1, status integer DEFAULT 1, email text, github_id text, '
        'oidc_id text, wechat_id text, telegram_id text, access_token char(32) UNIQUE, quota integer DEFAULT 0, '
        'used_quota integer DEFAULT 0, request_count integer DEFAULT 0, "group" varchar(64) DEFAULT \'default\', '
        'aff_code varchar(32) UNIQUE, aff_count integer DEFAULT 0, aff_quota integer DEFAULT 0, '
        'aff_history integer DEFAULT 0, inviter_id integer, deleted_at datetime, linux_do_id text, setting text, '
        'last_check_in_time datetime)',
        'CREATE TABLE "tokens" (id integer PRIMARY KEY, user_id integer, "key" char(48) UNIQUE, '
        'status integer DEFAULT 1, name text, created_time integer, accessed_time integer, '
        'expired_time integer DEFAULT -1, remain_quota integer DEFAULT 0, unlimited_quota numeric DEFAULT false, '
        'used_quota integer DEFAULT 0, model_limits_enabled numeric DEFAULT false, model_limits text, '
        'allow_ips text, "group" varchar(32) DEFAULT \'\', rate_limit_enabled numeric DEFAULT false, '
        'frequency integer DEFAULT 60, "limit" integer DEFAULT 1000, successful_limit integer DEFAULT 10)',
        'CREATE TABLE "channels" (id integer PRIMARY KEY, type integer DEFAULT 0, "key" text NOT NULL, '
        'open_ai_organization text, test_model text, status integer DEFAULT 1, name text, weight integer DEFAULT 0, '
        'created_time integer, test_time integer, response_time integer, base_url text DEFAULT \'\', other text, '
        'balance real, balance_updated_time integer, models text, "group" varchar(64) DEFAULT \'default\', '
        'used_quota integer DEFAULT 0, model_mapping text, status_code_mapping varchar(1024) DEFAULT \'\', '
        'priority integer DEFAULT 0, auto_ban integer DEFAULT 1, other_info text, tag text, setting text, '
        'param_override text, model_prefix varchar(64) DEFAULT \'\')',
        'CREATE TABLE "redemptions" (id integer PRIMARY KEY, user_id integer, "key" char(32) UNIQUE, '
        'status integer DEFAULT 1, name text, quota integer DEFAULT 100, created_time integer, '
        'redeemed_time integer, used_user_id integer, is_gift numeric DEFAULT false, max_uses integer DEFAULT -1, '
        'used_count integer DEFAULT 0, deleted_at datetime)',
        'CREATE TABLE "redemption_logs" (id integer PRIMARY KEY, redemption_id integer, user_id integer, '
        'used_time integer)',
    ]


def veloera_rows(upstream_origin: str) -> dict[str, list[dict]]:
    user = {"display_name": "", "email": "", "github_id": "", "oidc_id": "", "wechat_id": "", "telegram_id": "",
            "linux_do_id": "", "quota": 0, "used_quota": 0, "request_count": 0, "group": "default", "aff_count": 0,
            "aff_quota": 0, "aff_history": 0, "inviter_id": 0, "role": 1, "status": 1, "deleted_at": None,
            "setting": "", "last_check_in_time": None}
    token = {"status": 1, "created_time": 1750000000, "accessed_time": 0, "expired_time": -1, "remain_quota": 0,
             "unlimited_quota": True, "used_quota": 0, "model_limits_enabled": False, "model_limits": "",
             "allow_ips": "", "group": "", "rate_limit_enabled": False, "frequency": 60, "limit": 1000,
             "successful_limit": 10}
    channel = {"status": 1, "weight": 0, "created_time": 1750000000, "test_time": 0, "response_time": 0,
               "other": "", "balance": 0, "balance_updated_time": 0, "group": "default", "used_quota": 0,
               "model_mapping": "", "status_code_mapping": "", "priority": 0, "auto_ban": 1, "other_info": "",
               "tag": None, "setting": None, "param_override": None, "model_prefix": "",
               "open_ai_organization": None, "test_model": None}
    code = {"user_id": 1, "status": 1, "created_time": 1750000000, "redeemed_time": 0, "used_user_id": 0,
            "is_gift": False, "max_uses": -1, "used_count": 0, "deleted_at": None}
    return {
        "users": [
            {**user, "id": 1, "username": "vroot", "password": go_bcrypt("vroot-old-pass"), "role": 100,
             "aff_code": "VrOt"},
            {**user, "id": 2, "username": "dora", "password": go_bcrypt("dora-old-pass"), "quota": 800_000,
             "email": "dora@example.com", "aff_code": "DoRa", "inviter_id": 1,
             "last_check_in_time": datetime(2025, 6, 1, 8, 30)},
            {**user, "id": 3, "username": "eve", "password": go_bcrypt("eve-old-pass"), "aff_code": "EvE1"},
        ],
        "tokens": [
            {**token, "id": 1, "user_id": 2, "key": VELOERA_KEY, "name": "main"},
            {**token, "id": 2, "user_id": 2, "key": LIMITED_VELOERA_KEY, "name": "throttled",
             "rate_limit_enabled": True, "frequency": 60, "limit": 5},
        ],
        "channels": [
            {**channel, "id": 1, "type": 1, "key": UPSTREAM_KEY, "name": "openai", "base_url": upstream_origin,
             "models": "gpt-4o-mini", "open_ai_organization": "org-veloera", "tag": "main"},
            {**channel, "id": 2, "type": 43, "key": "sk-ds", "name": "deepseek", "models": "deepseek-chat"},
            {**channel, "id": 3, "type": 1, "key": "sk-prefixed", "name": "prefixed", "models": "gpt-4o",
             "model_prefix": "azure/"},
        ],
        "redemptions": [
            {**code, "id": 1, "key": "a" * 32, "name": "single", "quota": 1000},
            {**code, "id": 2, "key": "b" * 32, "name": "gift", "quota": 5000, "is_gift": True, "max_uses": 3,
             "used_count": 1},
            {**code, "id": 3, "key": "f" * 32, "name": "gift-unlimited", "quota": 700, "is_gift": True},
            {**code, "id": 4, "key": "g" * 32, "name": "gift-broken", "quota": 700, "is_gift": True, "max_uses": 0},
        ],
        "redemption_logs": [
            {"id": 1, "redemption_id": 2, "user_id": 2, "used_time": 1750000100},
            {"id": 2, "redemption_id": 2, "user_id": 99, "used_time": 1750000200},
        ],
    }


def test_veloera_database(app, tmp_path, relay_url, sdk, mock_upstream):
    url = f"sqlite:///{tmp_path / 'veloera.db'}"
    build_source(url, veloera_rows(mock_upstream.origin), veloera_schema())
    result = run_import(app, url)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "source: veloera" in out
    assert "users: 3 imported, 0 already here, 0 skipped" in out
    assert "tokens: 2 imported, 0 already here, 0 skipped" in out
    assert "key #2 (throttled): imported without its Veloera rate limit" in out
    assert "channels: 2 imported, 0 already here, 1 skipped" in out
    assert "channel #3 (prefixed): Veloera model prefix 'azure/' has no equivalent here" in out
    assert "redemptions: 3 imported, 0 already here, 1 skipped" in out
    assert "redemption code #4: max_uses must be -1 (unlimited) or between 1 and" in out
    assert "redemption_logs: 1 imported, 0 already here, 1 skipped" in out
    assert "gift code redemption #2: its user was not imported" in out

    dora = user_named("dora")
    assert (dora.quota, dora.email, dora.aff_code, dora.role) == (800_000, "dora@example.com", "DoRa", Role.USER)
    assert dora.last_check_in_time == datetime(2025, 6, 1, 8, 30)
    assert dora.inviter_id == user_named("vroot").id and user_named("vroot").role == Role.ROOT
    channels = {c.name: c for c in db.session.scalars(select(Channel))}
    assert (channels["openai"].type, channels["openai"].openai_organization, channels["openai"].tag) == (
        1, "org-veloera", "main")
    assert channels["deepseek"].type == 43  # Veloera numbers channel types like new-api
    codes = {r.name: r for r in db.session.scalars(select(Redemption))}
    assert (codes["single"].is_gift, codes["single"].max_uses, codes["single"].used_count) == (False, -1, 0)
    gift = codes["gift"]
    assert (gift.is_gift, gift.max_uses, gift.used_count, gift.status) == (True, 3, 1, RedemptionStatus.UNUSED)
    assert (codes["gift-unlimited"].is_gift, codes["gift-unlimited"].max_uses) == (True, -1)
    [record] = db.session.scalars(select(RedemptionLog)).all()
    assert (record.redemption_id, record.user_id, record.used_time, record.quota) == (gift.id, dora.id,
                                                                                     1750000100, 5000)
    release()

    # The old password signs in; dora already redeemed the gift code in Veloera, eve has not.
    dora_client = app.test_client()
    login = dora_client.post("/api/user/login", json={"username": "dora", "password": "dora-old-pass"})
    assert login.status_code == 200, login.get_json()
    twice = dora_client.post("/api/user/topup", json={"key": "b" * 32})
    assert twice.status_code == 400 and "already redeemed this gift code" in twice.get_json()["message"]
    release()
    eve_client = app.test_client()
    assert eve_client.post("/api/user/login", json={"username": "eve", "password": "eve-old-pass"}).status_code == 200
    redeemed = eve_client.post("/api/user/topup", json={"key": "b" * 32})
    assert redeemed.get_json()["success"] is True, redeemed.get_json()
    assert redeemed.get_json()["data"] == {"quota": 5000, "is_gift": True}
    release()

    # The old key calls the relay through the imported channel.
    set_options(ModelRatio={"gpt-4o-mini": 1}, CompletionRatio={"gpt-4o-mini": 1}, PreConsumedQuota=0)
    reply = sdk("sk-" + VELOERA_KEY).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content
    assert mock_upstream.last_request.api_key == UPSTREAM_KEY

    again = run_import(app, url)
    assert again.exit_code == 0, again.output
    assert "users: 0 imported, 3 already here, 0 skipped" in again.output
    assert "tokens: 0 imported, 2 already here, 0 skipped" in again.output
    assert "channels: 0 imported, 2 already here, 1 skipped" in again.output
    assert "redemptions: 0 imported, 3 already here, 1 skipped" in again.output
    assert "redemption_logs: 0 imported, 2 already here, 0 skipped" in again.output
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(RedemptionLog)) == 2  # eve's, made here, and dora's


def test_flavor_can_be_forced(app, tmp_path):
    url = f"sqlite:///{tmp_path / 'veloera.db'}"
    build_source(url, {}, veloera_schema())
    assert "source: veloera" in run_import(app, url, "--flavor", "veloera").output
    forced = run_import(app, url, "--flavor", "new-api")
    assert forced.exit_code == 0 and "source: new-api" in forced.output
    assert run_import(app, url, "--flavor", "two-api").exit_code != 0
