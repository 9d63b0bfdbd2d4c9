"""Core tables, modelled on New API's so its data and clients carry over.

Column names, numeric codes and defaults follow New API (see docs/operations.md for the
mapping). Times are Unix seconds in BIGINT columns, as New API stores them, except the
soft-delete marker ``deleted_at``. JSON-valued columns are TEXT holding a JSON string, again as
New API does, so values copied from an existing New API database load unchanged.

Composite indexes (abilities' key, the log indexes) are created by raw SQL in the migrations,
because Piccolo's composite constraints do not work on SQLite.
"""

from __future__ import annotations

from piccolo.columns import (
    BigInt,
    Boolean,
    DoublePrecision,
    Integer,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

# Numeric codes shared with New API.
ROLE_GUEST, ROLE_COMMON, ROLE_ADMIN, ROLE_ROOT = 0, 1, 10, 100
USER_ENABLED, USER_DISABLED = 1, 2
TOKEN_ENABLED, TOKEN_DISABLED, TOKEN_EXPIRED, TOKEN_EXHAUSTED = 1, 2, 3, 4
CHANNEL_UNKNOWN, CHANNEL_ENABLED, CHANNEL_MANUALLY_DISABLED, CHANNEL_AUTO_DISABLED = 0, 1, 2, 3
REDEMPTION_ENABLED, REDEMPTION_DISABLED, REDEMPTION_USED = 1, 2, 3
LOG_UNKNOWN, LOG_TOPUP, LOG_CONSUME, LOG_MANAGE, LOG_SYSTEM, LOG_ERROR, LOG_REFUND, LOG_LOGIN = range(8)


class User(Table, tablename="users"):
    id = Serial(primary_key=True)
    username = Varchar(length=64, unique=True, index=True)
    password = Varchar(length=255)  # bcrypt hash
    display_name = Varchar(length=64, index=True)
    role = Integer(default=ROLE_COMMON)
    status = Integer(default=USER_ENABLED)
    email = Varchar(length=255, index=True)
    github_id = Varchar(length=255, index=True)
    discord_id = Varchar(length=255, index=True)
    oidc_id = Varchar(length=255, index=True)
    wechat_id = Varchar(length=255, index=True)
    telegram_id = Varchar(length=255, index=True)
    linux_do_id = Varchar(length=255, index=True)
    access_token = Varchar(length=64, null=True, default=None, unique=True)
    quota = BigInt(default=0)
    used_quota = BigInt(default=0)
    request_count = Integer(default=0)
    group = Varchar(length=64, default="default")
    aff_code = Varchar(length=32, null=True, default=None, unique=True)
    aff_count = Integer(default=0)
    aff_quota = BigInt(default=0)
    aff_history = BigInt(default=0)
    inviter_id = Integer(default=0, index=True)
    setting = Text(default="")
    remark = Varchar(length=255)
    stripe_customer = Varchar(length=64, index=True)
    created_at = BigInt(default=0)
    last_login_at = BigInt(default=0)
    auth_version = Integer(default=0)  # bumped to end every console session of the user
    deleted_at = Timestamptz(null=True, default=None, index=True)


class Token(Table, tablename="tokens"):
    id = Serial(primary_key=True)
    user_id = Integer(index=True)
    key = Varchar(length=128, unique=True)  # stored without the "sk-" prefix
    status = Integer(default=TOKEN_ENABLED)
    name = Varchar(length=255, index=True)
    created_time = BigInt(default=0)
    accessed_time = BigInt(default=0)
    expired_time = BigInt(default=-1)  # -1: never
    remain_quota = BigInt(default=0)
    unlimited_quota = Boolean(default=False)
    model_limits_enabled = Boolean(default=False)
    model_limits = Text(default="")
    allow_ips = Text(default="")
    used_quota = BigInt(default=0)
    group = Varchar(length=64, default="")
    cross_group_retry = Boolean(default=False)
    deleted_at = Timestamptz(null=True, default=None, index=True)


class Channel(Table, tablename="channels"):
    id = Serial(primary_key=True)
    type = Integer(default=0)
    key = Text(default="")
    openai_organization = Varchar(length=255, null=True, default=None)
    test_model = Varchar(length=255, null=True, default=None)
    status = Integer(default=CHANNEL_ENABLED)
    name = Varchar(length=255, index=True)
    weight = Integer(default=0)
    created_time = BigInt(default=0)
    test_time = BigInt(default=0)
    response_time = Integer(default=0)  # ms
    base_url = Varchar(length=1024, null=True, default="")
    other = Text(default="")
    balance = DoublePrecision(default=0.0)  # USD
    balance_updated_time = BigInt(default=0)
    models = Text(default="")  # comma-separated
    group = Varchar(length=255, default="default")  # comma-separated
    used_quota = BigInt(default=0)
    model_mapping = Text(null=True, default=None)
    status_code_mapping = Varchar(length=1024, null=True, default="")
    priority = BigInt(default=0)
    auto_ban = Integer(default=1)
    other_info = Text(default="")
    tag = Varchar(length=255, null=True, default=None, index=True)
    setting = Text(null=True, default=None)
    param_override = Text(null=True, default=None)
    header_override = Text(null=True, default=None)
    remark = Varchar(length=255, null=True, default=None)
    channel_info = Text(default="")
    settings = Text(default="")


class Ability(Table, tablename="abilities"):
    """The group x model x channel index; unique on (group, model, channel_id)."""

    id = Serial(primary_key=True)
    group = Varchar(length=64)
    model = Varchar(length=255)
    channel_id = Integer(index=True)
    enabled = Boolean(default=True)
    priority = BigInt(default=0, index=True)
    weight = Integer(default=0, index=True)
    tag = Varchar(length=255, null=True, default=None, index=True)


class Option(Table, tablename="options"):
    key = Varchar(length=255, primary_key=True)
    value = Text(default="")


class Log(Table, tablename="logs"):
    id = Serial(primary_key=True)
    # user_id, username, token_name, model_name and channel_id lead composite indexes instead of
    # having their own (see migration 2026-12-05T04:01:03 for the list)
    user_id = Integer()
    created_at = BigInt(default=0)
    type = Integer(default=LOG_UNKNOWN)
    content = Text(default="")
    username = Varchar(length=64)
    token_name = Varchar(length=255)
    model_name = Varchar(length=255)
    quota = BigInt(default=0)
    prompt_tokens = Integer(default=0)
    completion_tokens = Integer(default=0)
    use_time = Integer(default=0)  # seconds
    is_stream = Boolean(default=False)
    channel_id = Integer(default=0)
    token_id = Integer(default=0, index=True)
    group = Varchar(length=64, index=True)
    ip = Varchar(length=64, index=True)
    request_id = Varchar(length=64, index=True)
    upstream_request_id = Varchar(length=128, index=True)
    other = Text(default="")


class Redemption(Table, tablename="redemptions"):
    id = Serial(primary_key=True)
    user_id = Integer(default=0)  # creator
    key = Varchar(length=32, unique=True)
    status = Integer(default=REDEMPTION_ENABLED)
    name = Varchar(length=255, index=True)
    quota = BigInt(default=100)
    created_time = BigInt(default=0)
    redeemed_time = BigInt(default=0)
    used_user_id = Integer(default=0)
    expired_time = BigInt(default=0)  # 0: never
    deleted_at = Timestamptz(null=True, default=None, index=True)


class TopUp(Table, tablename="top_ups"):
    id = Serial(primary_key=True)
    user_id = Integer(index=True)
    amount = BigInt(default=0)
    money = DoublePrecision(default=0.0)
    trade_no = Varchar(length=255, unique=True)
    payment_method = Varchar(length=50)
    payment_provider = Varchar(length=50)
    create_time = BigInt(default=0)
    complete_time = BigInt(default=0)
    status = Varchar(length=20, default="pending", index=True)  # pending | success | failed | expired
    quota = BigInt(default=0)  # quota to credit (a product's fixed quota); 0: amount x QuotaPerUnit


class PaymentRefusal(Table, tablename="payment_refusals"):
    """A payment notice the gateway refused (bad signature, unknown order, wrong amount) or that
    changed nothing (an unpaid status), kept for the admin's order desk. Never the raw signature
    or a secret; the trade number is the one the caller claimed."""

    id = Serial(primary_key=True)
    created_at = BigInt(default=0, index=True)
    method = Varchar(length=50)
    trade_no = Varchar(length=255, index=True)
    reason = Varchar(length=255)
    ip = Varchar(length=64)
    status = Integer(default=0)  # the HTTP status answered


class Task(Table, tablename="tasks"):
    id = Serial(primary_key=True)
    created_at = BigInt(default=0, index=True)
    updated_at = BigInt(default=0)
    task_id = Varchar(length=191, index=True)
    platform = Varchar(length=30, index=True)
    user_id = Integer(index=True)
    group = Varchar(length=50)
    channel_id = Integer(index=True)
    quota = BigInt(default=0)
    action = Varchar(length=40, index=True)
    status = Varchar(length=20, index=True)  # NOT_START ... SUCCESS, FAILURE, UNKNOWN
    fail_reason = Text(default="")
    submit_time = BigInt(default=0, index=True)
    start_time = BigInt(default=0, index=True)
    finish_time = BigInt(default=0, index=True)
    progress = Varchar(length=20, index=True)
    properties = Text(null=True, default=None)
    private_data = Text(null=True, default=None)  # never returned to users
    data = Text(null=True, default=None)


class Midjourney(Table, tablename="midjourneys"):
    """New API's Midjourney tasks, column for column (times here are Unix milliseconds, as there).

    ``token_id`` and ``billing_channel_id`` never reach users: they say whom a refund goes to.
    """

    id = Serial(primary_key=True)
    code = Integer(default=0)
    user_id = Integer(index=True)
    action = Varchar(length=40, index=True)
    mj_id = Varchar(length=191, index=True)
    prompt = Text(default="")
    prompt_en = Text(default="")
    description = Text(default="")
    state = Text(default="")
    submit_time = BigInt(default=0, index=True)
    start_time = BigInt(default=0, index=True)
    finish_time = BigInt(default=0, index=True)
    image_url = Text(default="")
    video_url = Text(default="")
    video_urls = Text(default="")
    status = Varchar(length=20, index=True)
    progress = Varchar(length=30, index=True)
    fail_reason = Text(default="")
    channel_id = Integer(default=0)
    quota = BigInt(default=0)
    token_id = Integer(default=0)
    billing_channel_id = Integer(default=0)
    buttons = Text(default="")
    properties = Text(default="")


class QuotaData(Table, tablename="quota_data"):
    """Hourly usage aggregates for the dashboard (``created_at`` is the hour bucket)."""

    id = Serial(primary_key=True)
    user_id = Integer(index=True)
    username = Varchar(length=64)
    model_name = Varchar(length=255)
    created_at = BigInt(default=0, index=True)
    use_group = Varchar(length=64, index=True)
    token_id = Integer(default=0, index=True)
    channel_id = Integer(default=0, index=True)
    node_name = Varchar(length=64, index=True)
    token_used = BigInt(default=0)
    count = Integer(default=0)
    quota = BigInt(default=0)


# Coarser sums of quota_data for the dashboard's charts, written in the same transaction: quota_data
# keeps one row per user, model, hour, group, key and channel, which at millions of logs is nearly
# one row per request; the charts need only these (see migration 2026-12-05T04:22:00).


class QuotaByModel(Table, tablename="quota_data_models"):
    """Per model and hour: the admin dashboard (``/api/data/``)."""

    id = Serial(primary_key=True)
    created_at = BigInt(default=0)
    model_name = Varchar(length=255)
    token_used = BigInt(default=0)
    count = BigInt(default=0)
    quota = BigInt(default=0)


class QuotaByUserModel(Table, tablename="quota_data_user_models"):
    """Per user, model and hour: one user's dashboard (``/api/data/self``, ``?username=``)."""

    id = Serial(primary_key=True)
    user_id = Integer(default=0)
    username = Varchar(length=64)
    model_name = Varchar(length=255)
    created_at = BigInt(default=0)
    token_used = BigInt(default=0)
    count = BigInt(default=0)
    quota = BigInt(default=0)


class QuotaByUser(Table, tablename="quota_data_users"):
    """Per user and hour: the users chart (``/api/data/users``)."""

    id = Serial(primary_key=True)
    user_id = Integer(default=0)
    username = Varchar(length=64)
    created_at = BigInt(default=0)
    token_used = BigInt(default=0)
    count = BigInt(default=0)
    quota = BigInt(default=0)


class Setup(Table, tablename="setups"):
    id = Serial(primary_key=True)
    version = Varchar(length=50)
    initialized_at = BigInt(default=0)


# -- host tables with no New API counterpart ---------------------------------------------------


class PluginState(Table, tablename="plugin_states"):
    """Whether an admin switched a plugin on, and its settings (JSON validated by its model)."""

    name = Varchar(length=128, primary_key=True)
    enabled = Boolean(default=True)
    settings = Text(default="{}")
    updated_at = BigInt(default=0)


class LoginIdentity(Table, tablename="login_identities"):
    """A redirect login's account (``method`` + ``subject``) bound to a local user.

    New API's own methods also fill their ``users`` column (``github_id``, ``oidc_id``, ...) so
    existing scripts keep working; a third-party login plugin's accounts live only here.
    """

    method = Varchar(length=64)
    subject = Varchar(length=255)
    user_id = Integer(index=True)
    created_at = BigInt(default=0)


class RevokedSession(Table, tablename="revoked_sessions"):
    """A console session ended by logout, kept until its cookie would have expired anyway."""

    sid = Varchar(length=64, unique=True)
    user_id = Integer(index=True)
    expires_at = BigInt(default=0, index=True)


class Revision(Table, tablename="revisions"):
    """A counter per topic, bumped in the same transaction as the change it announces.

    Every worker polls this tiny table to learn that cached data (options, plugin state,
    channels, ...) changed, so a change made on one worker or node reaches all of them without
    shared memory; Redis pub/sub, when configured, only makes that faster.
    """

    topic = Varchar(length=64, primary_key=True)
    version = BigInt(default=0)


class RevisionChange(Table, tablename="revision_changes"):
    """Which rows one bump of a topic changed (``subjects``: ids, comma-separated), when the writer
    said. A worker that sees a topic move reloads only those rows if every version it missed has
    its row here, and everything otherwise; so a top-up does not empty every worker's key cache.
    """

    topic = Varchar(length=64)
    version = BigInt()
    subjects = Text(default="")


class JobLease(Table, tablename="job_leases"):
    """Who runs a once-per-cluster background job until when."""

    name = Varchar(length=191, primary_key=True)
    holder = Varchar(length=128)
    expires_at = DoublePrecision(default=0.0)


class HostMeta(Table, tablename="host_meta"):
    """Facts about this installation as a whole (``cluster_id``: names its keys in Redis)."""

    key = Varchar(length=64, primary_key=True)
    value = Text(default="")


class LedgerJournal(Table, tablename="ledger_journals"):
    """The last journal entry of each worker's journal whose charge is in the database.

    Updated in the same transaction as the charges, so replaying a journal after a crash
    writes each charge exactly once (see :mod:`newapi_host.billing.journal`).
    """

    name = Varchar(length=191, primary_key=True)
    seq = BigInt(default=0)


class TwoFA(Table, tablename="two_fas"):
    """A user's TOTP second factor (New API's ``two_fas``), enabled once a first code matched.

    ``last_used_step`` makes each 30-second code work once; five wrong codes lock it for a while.
    """

    user_id = Integer(unique=True)
    secret = Varchar(length=64)  # base32, needed in clear to compute codes
    is_enabled = Boolean(default=False)
    last_used_step = BigInt(default=0)
    failed_attempts = Integer(default=0)
    locked_until = BigInt(default=0)
    created_at = BigInt(default=0)


class TwoFABackupCode(Table, tablename="two_fa_backup_codes"):
    """A single-use backup code, kept only as its SHA-256 (the codes are long random strings)."""

    user_id = Integer(index=True)
    code_hash = Varchar(length=64)
    is_used = Boolean(default=False)
    used_at = BigInt(default=0)


class PasskeyCredential(Table, tablename="passkey_credentials"):
    """A WebAuthn credential (passkey) a user registered: its id and public key (COSE, base64url)."""

    user_id = Integer(index=True)
    credential_id = Varchar(length=512, unique=True)
    public_key = Text()
    sign_count = BigInt(default=0)
    created_at = BigInt(default=0)
    last_used_at = BigInt(default=0)


class CustomOAuthProvider(Table, tablename="custom_oauth_providers"):
    """An OAuth 2 / OpenID Connect provider root defined in the console (New API's table).

    Users sign in through it at ``/api/oauth/<slug>``; their accounts are ``login_identities``
    rows with method ``custom:<id>`` (so a renamed slug keeps them). The ``*_field`` columns are
    dotted paths into the user-info answer (``sub``, ``data.user.id``). ``client_secret`` is a
    secret column: only the sign-in flow reads it, no API answer carries it. ``pkce_enabled`` is
    ours (New API sends no PKCE).
    """

    name = Varchar(length=64)
    slug = Varchar(length=64, unique=True)
    icon = Varchar(length=128, default="")
    enabled = Boolean(default=False)
    client_id = Varchar(length=256, default="")
    client_secret = Varchar(length=512, default="", secret=True)
    authorization_endpoint = Varchar(length=512, default="")
    token_endpoint = Varchar(length=512, default="")
    user_info_endpoint = Varchar(length=512, default="")
    scopes = Varchar(length=256, default="openid profile email")
    user_id_field = Varchar(length=128, default="sub")
    username_field = Varchar(length=128, default="preferred_username")
    display_name_field = Varchar(length=128, default="name")
    email_field = Varchar(length=128, default="email")
    well_known = Varchar(length=512, default="")
    auth_style = Integer(default=0)
    access_policy = Text(default="")  # JSON: who may sign in (see api/oauth_policy.py)
    access_denied_message = Varchar(length=512, default="")
    pkce_enabled = Boolean(default=False)
    created_at = BigInt(default=0)
    updated_at = BigInt(default=0)


CORE_TABLES: tuple[type[Table], ...] = (
    User,
    Token,
    Channel,
    Ability,
    Option,
    Log,
    Redemption,
    TopUp,
    PaymentRefusal,
    Task,
    Midjourney,
    QuotaData,
    QuotaByModel,
    QuotaByUserModel,
    QuotaByUser,
    Setup,
    PluginState,
    Revision,
    RevisionChange,
    JobLease,
    LoginIdentity,
    HostMeta,
    LedgerJournal,
    RevokedSession,
    TwoFA,
    TwoFABackupCode,
    PasskeyCredential,
    CustomOAuthProvider,
)
