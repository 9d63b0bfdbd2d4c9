"""Tables, migrations (host and plugin apps) and engine choice, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from piccolo.engine.postgres import PostgresEngine

from newapi_host.app import load_plugins
from newapi_host.config import Config
from newapi_host.db import engine as db
from newapi_host.db.tables import CORE_TABLES, Ability, Token, User

from .conftest import HOST_EPS, fixture_eps

NEW_API_COLUMNS = {
    "custom_oauth_providers": {
        "id",
        "name",
        "slug",
        "icon",
        "enabled",
        "client_id",
        "client_secret",
        "authorization_endpoint",
        "token_endpoint",
        "user_info_endpoint",
        "scopes",
        "user_id_field",
        "username_field",
        "display_name_field",
        "email_field",
        "well_known",
        "auth_style",
        "access_policy",
        "access_denied_message",
        "created_at",
        "updated_at",
    },
    "users": {
        "id",
        "username",
        "password",
        "display_name",
        "role",
        "status",
        "email",
        "github_id",
        "oidc_id",
        "wechat_id",
        "telegram_id",
        "linux_do_id",
        "access_token",
        "quota",
        "used_quota",
        "request_count",
        "group",
        "aff_code",
        "aff_count",
        "aff_quota",
        "aff_history",
        "inviter_id",
        "setting",
        "remark",
        "auth_version",
        "deleted_at",
    },
    "tokens": {
        "id",
        "user_id",
        "key",
        "status",
        "name",
        "created_time",
        "accessed_time",
        "expired_time",
        "remain_quota",
        "unlimited_quota",
        "model_limits_enabled",
        "model_limits",
        "allow_ips",
        "used_quota",
        "group",
        "deleted_at",
    },
    "channels": {
        "id",
        "type",
        "key",
        "status",
        "name",
        "weight",
        "created_time",
        "test_time",
        "response_time",
        "base_url",
        "other",
        "balance",
        "balance_updated_time",
        "models",
        "group",
        "used_quota",
        "model_mapping",
        "status_code_mapping",
        "priority",
        "auto_ban",
        "other_info",
        "tag",
        "setting",
        "param_override",
        "header_override",
        "remark",
        "channel_info",
        "settings",
        "test_model",
    },
    "abilities": {"group", "model", "channel_id", "enabled", "priority", "weight", "tag"},
    "options": {"key", "value"},
    "logs": {
        "id",
        "user_id",
        "created_at",
        "type",
        "content",
        "username",
        "token_name",
        "model_name",
        "quota",
        "prompt_tokens",
        "completion_tokens",
        "use_time",
        "is_stream",
        "channel_id",
        "token_id",
        "group",
        "ip",
        "request_id",
        "upstream_request_id",
        "other",
    },
    "redemptions": {
        "id",
        "user_id",
        "key",
        "status",
        "name",
        "quota",
        "created_time",
        "redeemed_time",
        "used_user_id",
        "expired_time",
        "deleted_at",
    },
    "top_ups": {
        "id",
        "user_id",
        "amount",
        "money",
        "trade_no",
        "payment_method",
        "create_time",
        "complete_time",
        "status",
    },
    "tasks": {
        "id",
        "created_at",
        "updated_at",
        "task_id",
        "platform",
        "user_id",
        "group",
        "channel_id",
        "quota",
        "action",
        "status",
        "fail_reason",
        "submit_time",
        "start_time",
        "finish_time",
        "progress",
        "properties",
        "private_data",
        "data",
    },
    "quota_data": {
        "id",
        "user_id",
        "username",
        "model_name",
        "created_at",
        "use_group",
        "token_id",
        "channel_id",
        "node_name",
        "token_used",
        "count",
        "quota",
    },
    "setups": {"id", "version", "initialized_at"},
}


async def columns_of(engine, table: str) -> set[str]:
    if isinstance(engine, PostgresEngine):
        sql = "SELECT column_name AS name FROM information_schema.columns WHERE table_name = {}"
        rows = await User.raw(sql, table)
    else:
        rows = await User.raw(f"PRAGMA table_info({table})")
    return {r["name"] for r in rows}


@pytest.fixture
async def migrated(db_config: Config):
    plugins = load_plugins(db_config, [*HOST_EPS, *fixture_eps("acme")])
    engine = db.make_engine(db_config)
    db.configure(engine, plugins.piccolo_apps())
    await db.start(engine)
    await db.migrate()
    try:
        yield engine
    finally:
        await db.stop(engine)


async def test_core_tables_have_new_api_columns(migrated):
    for table, expected in NEW_API_COLUMNS.items():
        missing = expected - await columns_of(migrated, table)
        assert not missing, f"{table} lacks {missing}"


async def test_migrations_are_idempotent_and_include_plugin_apps(migrated):
    report = await db.migrate()
    assert "No migrations need to be run" in report
    from newapi_fixture_acme_db.tables import AcmeItem

    await AcmeItem.insert(AcmeItem(name="x", user_id=1))
    assert await AcmeItem.count() == 1
    assert {"name", "user_id"} <= await columns_of(migrated, "plugin_acme_items")


async def test_ability_key_is_unique(migrated):
    await Ability.insert(Ability(group="default", model="gpt-4o", channel_id=1))
    with pytest.raises(Exception, match="(?i)unique"):
        await Ability.insert(Ability(group="default", model="gpt-4o", channel_id=1))
    await Ability.insert(Ability(group="vip", model="gpt-4o", channel_id=1))
    assert await Ability.count() == 2


async def test_quota_updates_are_atomic_sql_expressions(migrated):
    user = User(username="u", password="x", quota=10_000)
    await user.save()
    token = Token(user_id=user.id, key="k" * 48, remain_quota=10_000)
    await token.save()

    async def charge(n: int) -> None:
        async with db.write_transaction():
            await User.update({User.quota: User.quota - n, User.used_quota: User.used_quota + n}).where(
                User.id == user.id
            )
            await Token.update({Token.remain_quota: Token.remain_quota - n}).where(Token.id == token.id)

    await asyncio.gather(*(charge(7) for _ in range(50)))
    row = await User.select(User.quota, User.used_quota).where(User.id == user.id).first()
    assert row == {"quota": 10_000 - 350, "used_quota": 350}
    assert (await Token.select(Token.remain_quota).first())["remain_quota"] == 10_000 - 350


async def test_fetch_tuples_reads_rows_as_tuples_inside_and_outside_a_transaction(migrated):
    await User.insert(User(username="tuple-a", password="x", quota=5))
    sql = 'SELECT "username", "quota" FROM users WHERE "username" LIKE {} ORDER BY "username"'
    assert [tuple(r) for r in await db.fetch_tuples(sql, "tuple-%")] == [("tuple-a", 5)]
    async with db.write_transaction():  # inside: its own uncommitted rows are seen
        await User.insert(User(username="tuple-b", password="x", quota=7))
        rows = await db.fetch_tuples(sql, "tuple-%")
        assert [tuple(r) for r in rows] == [("tuple-a", 5), ("tuple-b", 7)]


async def test_every_core_table_is_bound_to_the_configured_engine(migrated):
    for table in CORE_TABLES:
        assert table._meta.db is migrated


def test_sqlite_is_default_under_the_data_dir_with_wal(tmp_path):
    config = Config.from_env({"NEWAPI_DATA_DIR": str(tmp_path / "d")})
    assert config.database_type == "sqlite"
    assert config.database_path == tmp_path / "d" / "newapi.db"

    async def run() -> None:
        engine = db.make_engine(config)
        db.configure(engine)
        await db.start(engine)
        await db.migrate()

    asyncio.run(run())
    with sqlite3.connect(config.database_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.filterwarnings("ignore:.*Unable to connect")
def test_postgres_is_chosen_by_sql_dsn():
    for dsn in ("postgres://u@127.0.0.1:1/db", "postgresql://u@127.0.0.1:1/db"):
        config = Config.from_env({"SQL_DSN": dsn})
        assert config.database_type == "postgres"
        assert isinstance(db.make_engine(config), PostgresEngine)
