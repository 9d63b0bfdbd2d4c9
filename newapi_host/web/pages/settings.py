"""Root: runtime settings (New API's options): operations, pricing ratio tables, site and sign-up.

Every input's ``name`` is the option key itself and carries ``data-kind`` (how ``settings.js``
reads and checks it); each section is its own form that saves only the keys that changed, one
``PUT /api/option/`` per key. Only options something in this code base reads are offered. The
option API is root only (as in New API), so an admin who is not root gets an explanation instead.
"""

from __future__ import annotations

from html import escape
from typing import Any

from litestar import Request, Response, get
from litestar.response import Redirect

from newapi_host.db.tables import ROLE_ROOT
from newapi_host.options import DEFAULT_DISABLE_CODES, DEFAULT_DISABLE_KEYWORDS, DEFAULT_RETRY_CODES

from ..i18n import TRANSLATIONS, add_strings, lang_of
from ..layout import admin_only, page, session_of, text

STRINGS = {
    "en": {
        "settings_title": "Settings",
        "set_root_only": "Only the root user can view and change these settings.",
        "set_sec_operations": "Operations",
        "set_sec_pricing": "Pricing",
        "set_sec_system": "Site and sign-up",
        "set_grp_retry": "Retries",
        "set_grp_disable": "Automatic channel disabling",
        "set_grp_logs": "Logs",
        "set_grp_ratios": "Model prices",
        "set_grp_groups": "Groups",
        "set_grp_billing": "Billing",
        "set_grp_site": "Site",
        "set_grp_signup": "Registration and sign-in",
        "set_grp_quota": "Quota",
        "set_grp_mail": "E-mail (SMTP)",
        "set_grp_turnstile": "Turnstile",
        "set_SMTPServer": "SMTP server",
        "set_SMTPPort": "SMTP port",
        "set_SMTPSSLEnabled": "TLS from the start (port 465); otherwise STARTTLS when offered",
        "set_SMTPStartTLSRequired": "Require STARTTLS (refuse a server that does not offer it)",
        "set_SMTPAccount": "SMTP account",
        "set_SMTPFrom": "Sender address",
        "set_SMTPToken": "SMTP password or token",
        "set_SMTPToken_help": "Never shown again once saved; leave empty to keep the saved one.",
        "set_EmailVerificationEnabled": "Registration needs an e-mailed code",
        "set_EmailDomainRestrictionEnabled": "Only allow the listed e-mail domains",
        "set_EmailDomainWhitelist": "Allowed e-mail domains",
        "set_EmailDomainWhitelist_help": "Comma-separated, e.g. example.com,corp.example.",
        "set_EmailAliasRestrictionEnabled": "Refuse e-mail aliases (+ or . in the name)",
        "set_TurnstileCheckEnabled": "Check Turnstile on sign-in, registration and mails",
        "set_TurnstileSiteKey": "Turnstile site key",
        "set_TurnstileSecretKey": "Turnstile secret key",
        "set_TurnstileSecretKey_help": "Never shown again once saved; leave empty to keep the saved one.",
        "set_RetryTimes": "Retry times",
        "set_RetryTimes_help": "Extra attempts after a failed request, each on another channel (0-10).",
        "set_AutomaticRetryStatusCodes": "Retry on these upstream status codes",
        "set_AutomaticRetryStatusCodes_help": "Codes and ranges such as 401,500-503; empty: the built-in list.",
        "set_AutomaticDisableChannelEnabled": "Disable a channel automatically when it fails",
        "set_AutomaticEnableChannelEnabled": "Enable an automatically disabled channel again when its test passes",
        "set_AutomaticEnableChannelEnabled_help": "Tested every CHANNEL_TEST_FREQUENCY minutes (10 by default); "
        "channels and keys an admin disabled stay off.",
        "set_ChannelDisableThreshold": "Slowest allowed test response (seconds)",
        "set_ChannelDisableThreshold_help": "A channel test slower than this disables the channel; 0: no limit.",
        "set_AutomaticDisableStatusCodes": "Disable on these upstream status codes",
        "set_AutomaticDisableStatusCodes_help": "Codes and ranges such as 401,403; 429 never disables.",
        "set_AutomaticDisableKeywords": "Disable on these error phrases",
        "set_AutomaticDisableKeywords_help": "One phrase per line, matched in upstream errors; "
        "empty: the built-in list.",
        "set_AutomaticDisableChannelErrorThreshold": "Errors before disabling",
        "set_AutomaticDisableChannelErrorThreshold_help": "Qualifying errors of one channel within the window below.",
        "set_AutomaticDisableChannelErrorWindowSeconds": "Error window (seconds)",
        "set_LogConsumeEnabled": "Record a usage log entry for every request",
        "set_LogRetentionDays": "Keep logs for (days)",
        "set_LogRetentionDays_help": "An hourly job deletes older log entries; 0 keeps them all.",
        "set_ModelRatio": "Model ratios",
        "set_ModelRatio_help": "Model -> ratio; 1 = $2 per 1M input tokens. Listed models override the "
        "built-in prices, the others keep them.",
        "set_CompletionRatio": "Completion ratios",
        "set_CompletionRatio_help": "Model -> multiplier for output tokens (default 1).",
        "set_ModelPrice": "Fixed prices per call (USD)",
        "set_ModelPrice_help": "Model -> USD per request; a fixed price wins over the ratio.",
        "set_CacheRatio": "Cache read ratios",
        "set_CacheRatio_help": "Model -> multiplier for cached input tokens (default 1).",
        "set_CreateCacheRatio": "Cache write ratios",
        "set_CreateCacheRatio_help": "Model -> multiplier for cache-write tokens (default 1.25).",
        "set_GroupRatio": "Group ratios",
        "set_GroupRatio_help": "Group -> multiplier on every price. Only groups listed here can be used; "
        "empty: default, vip and svip at 1.",
        "set_GroupGroupRatio": "Special group ratios",
        "set_GroupGroupRatio_help": 'User group -> {group used -> ratio}, e.g. {"vip": {"default": 0.5}}; '
        "overrides the group ratio for users of that group.",
        "set_UserUsableGroups": "Groups users can choose",
        "set_UserUsableGroups_help": "Group -> description: the groups users may put on their keys.",
        "set_SelfUseModeEnabled": "Self-use mode: bill models without a price at ratio 37.5",
        "set_EnableFreeModelPreConsume": "Hold quota before calling free models too",
        "set_SystemName": "System name",
        "set_Logo": "Logo URL",
        "set_Logo_help": "An https:// address, a path on this site or a data:image URL.",
        "set_Notice": "Notice",
        "set_Notice_help": "Shown to every signed-in user on the dashboard, as plain text; empty: none.",
        "set_Footer": "Footer",
        "set_Footer_help": "HTML given to New API front ends as footer_html by /api/status.",
        "set_ServerAddress": "Server address",
        "set_ServerAddress_help": "This gateway's public address, e.g. https://api.example.com.",
        "set_RegisterEnabled": "Allow new users to register",
        "set_PasswordRegisterEnabled": "Allow registration with a password",
        "set_PasswordLoginEnabled": "Allow sign-in with a password",
        "set_PasswordLoginEnabled_help": "Turning this off also locks out administrators with no other sign-in method.",
        "set_QuotaForNewUser": "Quota for new users (USD)",
        "set_QuotaForInviter": "Reward for inviting a user (USD)",
        "set_QuotaForInvitee": "Reward for signing up with an invitation (USD)",
        "set_PreConsumedQuota": "Minimum prompt tokens held in advance",
        "set_PreConsumedQuota_help": "The hold taken before a request assumes at least this many prompt tokens.",
        "set_QuotaPerUnit": "Quota per USD (QuotaPerUnit)",
        "set_QuotaPerUnit_help": "Internal quota units worth 1 USD (New API: 500000). USD amounts on this "
        "page are converted with the saved value.",
        "set_err_json": "Not valid JSON: {error}",
        "set_err_ratio": "Must be a JSON object of name -> number.",
        "set_err_nested": "Must be a JSON object of user group -> {group: number}.",
        "set_err_strings": "Must be a JSON object of group -> description (text).",
        "set_err_value": 'The value for "{name}" must be a finite number.',
        "set_err_negative": 'The value for "{name}" must not be negative.',
        "set_err_number": "Must be a number.",
        "set_err_integer": "Must be a whole number.",
        "set_err_min": "Must be at least {n}.",
        "set_err_above": "Must be greater than {n}.",
        "set_err_max": "Must be at most {n}.",
        "set_err_logo": "Use an https:// address, a path starting with / or a data:image URL.",
        "set_invalid": "Some values are not valid; see the marked fields. Nothing was saved.",
        "set_partial": "Some settings were not saved; see the marked fields.",
        "set_no_changes": "Nothing changed.",
    },
    "zh": {
        "settings_title": "系统设置",
        "set_root_only": "只有 root 用户可以查看和修改这些设置。",
        "set_sec_operations": "运营设置",
        "set_sec_pricing": "倍率设置",
        "set_sec_system": "站点与注册",
        "set_grp_retry": "重试",
        "set_grp_disable": "自动禁用渠道",
        "set_grp_logs": "日志",
        "set_grp_ratios": "模型价格",
        "set_grp_groups": "分组",
        "set_grp_billing": "计费",
        "set_grp_site": "站点",
        "set_grp_signup": "注册与登录",
        "set_grp_quota": "额度",
        "set_grp_mail": "邮件（SMTP）",
        "set_grp_turnstile": "Turnstile",
        "set_SMTPServer": "SMTP 服务器",
        "set_SMTPPort": "SMTP 端口",
        "set_SMTPSSLEnabled": "直接使用 TLS（465 端口）；否则在服务器支持时使用 STARTTLS",
        "set_SMTPStartTLSRequired": "必须使用 STARTTLS（拒绝不支持的服务器）",
        "set_SMTPAccount": "SMTP 账户",
        "set_SMTPFrom": "发件人地址",
        "set_SMTPToken": "SMTP 密码或令牌",
        "set_SMTPToken_help": "保存后不再显示；留空则保留已保存的值。",
        "set_EmailVerificationEnabled": "注册需要邮箱验证码",
        "set_EmailDomainRestrictionEnabled": "只允许列出的邮箱域名",
        "set_EmailDomainWhitelist": "允许的邮箱域名",
        "set_EmailDomainWhitelist_help": "用逗号分隔，例如 example.com,corp.example。",
        "set_EmailAliasRestrictionEnabled": "拒绝邮箱别名（名称中含 + 或 .）",
        "set_TurnstileCheckEnabled": "在登录、注册和发送邮件时检查 Turnstile",
        "set_TurnstileSiteKey": "Turnstile 站点密钥（site key）",
        "set_TurnstileSecretKey": "Turnstile 私钥（secret key）",
        "set_TurnstileSecretKey_help": "保存后不再显示；留空则保留已保存的值。",
        "set_RetryTimes": "失败重试次数",
        "set_RetryTimes_help": "请求失败后的额外尝试次数，每次换一个渠道（0-10）。",
        "set_AutomaticRetryStatusCodes": "自动重试状态码",
        "set_AutomaticRetryStatusCodes_help": "状态码或范围，例如 401,500-503；留空使用内置列表。",
        "set_AutomaticDisableChannelEnabled": "失败时自动禁用渠道",
        "set_AutomaticEnableChannelEnabled": "测试通过时自动启用被自动禁用的渠道",
        "set_AutomaticEnableChannelEnabled_help": "每 CHANNEL_TEST_FREQUENCY 分钟（默认 10）测试一次；"
        "管理员手动禁用的渠道和密钥不受影响。",
        "set_ChannelDisableThreshold": "最长响应时间（秒）",
        "set_ChannelDisableThreshold_help": "渠道测试超过此时间将自动禁用渠道；0 表示不限制。",
        "set_AutomaticDisableStatusCodes": "自动禁用状态码",
        "set_AutomaticDisableStatusCodes_help": "状态码或范围，例如 401,403；429 从不触发禁用。",
        "set_AutomaticDisableKeywords": "自动禁用关键词",
        "set_AutomaticDisableKeywords_help": "每行一个，在上游错误信息中匹配；留空使用内置列表。",
        "set_AutomaticDisableChannelErrorThreshold": "禁用前的错误次数",
        "set_AutomaticDisableChannelErrorThreshold_help": "同一渠道在下面的时间窗口内出现的符合条件的错误次数。",
        "set_AutomaticDisableChannelErrorWindowSeconds": "错误统计窗口（秒）",
        "set_LogConsumeEnabled": "启用额度消费日志记录",
        "set_LogRetentionDays": "日志保留天数",
        "set_LogRetentionDays_help": "每小时清理一次更早的日志；0 表示永久保留。",
        "set_ModelRatio": "模型倍率",
        "set_ModelRatio_help": "模型 -> 倍率；1 = 每百万输入 tokens 2 美元。"
        "列出的模型覆盖内置价格，其余模型保持内置价格。",
        "set_CompletionRatio": "模型补全倍率",
        "set_CompletionRatio_help": "模型 -> 输出 tokens 的倍率（默认 1）。",
        "set_ModelPrice": "模型固定价格（美元/次）",
        "set_ModelPrice_help": "模型 -> 每次请求的美元价格；设置了固定价格时优先于倍率。",
        "set_CacheRatio": "提示缓存倍率",
        "set_CacheRatio_help": "模型 -> 缓存命中输入 tokens 的倍率（默认 1）。",
        "set_CreateCacheRatio": "缓存创建倍率",
        "set_CreateCacheRatio_help": "模型 -> 缓存写入 tokens 的倍率（默认 1.25）。",
        "set_GroupRatio": "分组倍率",
        "set_GroupRatio_help": "分组 -> 所有价格的倍率。只有这里列出的分组可以使用；留空为 default、vip、svip 均为 1。",
        "set_GroupGroupRatio": "用户分组特殊倍率",
        "set_GroupGroupRatio_help": '用户分组 -> {使用分组 -> 倍率}，例如 {"vip": {"default": 0.5}}；'
        "对该分组的用户覆盖分组倍率。",
        "set_UserUsableGroups": "用户可选分组",
        "set_UserUsableGroups_help": "分组 -> 描述：用户可以为令牌选择的分组。",
        "set_SelfUseModeEnabled": "自用模式：未设置价格的模型按倍率 37.5 计费",
        "set_EnableFreeModelPreConsume": "免费模型也预扣费",
        "set_SystemName": "系统名称",
        "set_Logo": "Logo 图片地址",
        "set_Logo_help": "https:// 地址、本站路径或 data:image 地址。",
        "set_Notice": "公告",
        "set_Notice_help": "以纯文本形式显示在每个登录用户的数据看板上；留空则不显示。",
        "set_Footer": "页脚",
        "set_Footer_help": "通过 /api/status 的 footer_html 提供给 New API 前端的 HTML。",
        "set_ServerAddress": "服务器地址",
        "set_ServerAddress_help": "本网关的公开地址，例如 https://api.example.com。",
        "set_RegisterEnabled": "允许新用户注册",
        "set_PasswordRegisterEnabled": "允许通过密码进行注册",
        "set_PasswordLoginEnabled": "允许通过密码进行登录",
        "set_PasswordLoginEnabled_help": "关闭后，没有其他登录方式的管理员也将无法登录。",
        "set_QuotaForNewUser": "新用户初始额度（美元）",
        "set_QuotaForInviter": "邀请新用户奖励额度（美元）",
        "set_QuotaForInvitee": "新用户使用邀请码奖励额度（美元）",
        "set_PreConsumedQuota": "预扣费最少输入 tokens",
        "set_PreConsumedQuota_help": "请求前预扣额度时，输入 tokens 至少按此数量计算。",
        "set_QuotaPerUnit": "单位美元额度（QuotaPerUnit）",
        "set_QuotaPerUnit_help": "1 美元对应的内部额度（New API 默认 500000）。本页的美元金额按已保存的值换算。",
        "set_err_json": "不是有效的 JSON：{error}",
        "set_err_ratio": "必须是「名称 -> 数字」的 JSON 对象。",
        "set_err_nested": "必须是「用户分组 -> {分组: 数字}」的 JSON 对象。",
        "set_err_strings": "必须是「分组 -> 描述（文本）」的 JSON 对象。",
        "set_err_value": "“{name}”的值必须是有限的数字。",
        "set_err_negative": "“{name}”的值不能为负数。",
        "set_err_number": "必须是数字。",
        "set_err_integer": "必须是整数。",
        "set_err_min": "不能小于 {n}。",
        "set_err_above": "必须大于 {n}。",
        "set_err_max": "不能大于 {n}。",
        "set_err_logo": "请使用 https:// 地址、以 / 开头的路径或 data:image 地址。",
        "set_invalid": "有些值无效，请查看标出的字段。未保存任何设置。",
        "set_partial": "有些设置未能保存，请查看标出的字段。",
        "set_no_changes": "没有修改。",
    },
}
add_strings(STRINGS)

# A field: (option key, kind, attributes). Kinds, read by settings.js: bool (checkbox), int and
# number (data-min / data-max / data-above, the server's ranges), usd (quota shown in USD), text,
# textarea, codes (status-code list, checked by the server), ratio / nested / strings (JSON),
# secret (a password box that is never filled in; saved when something is typed).
Field = tuple[str, str, dict[str, str]]
SECTIONS: tuple[tuple[str, tuple[tuple[str, tuple[Field, ...]], ...]], ...] = (
    (
        "operations",
        (
            (
                "retry",
                (
                    ("RetryTimes", "int", {"data-min": "0", "data-max": "10"}),
                    ("AutomaticRetryStatusCodes", "codes", {"placeholder": DEFAULT_RETRY_CODES}),
                ),
            ),
            (
                "disable",
                (
                    ("AutomaticDisableChannelEnabled", "bool", {}),
                    ("AutomaticEnableChannelEnabled", "bool", {}),
                    ("AutomaticDisableStatusCodes", "codes", {"placeholder": DEFAULT_DISABLE_CODES}),
                    ("AutomaticDisableKeywords", "textarea", {"placeholder": "\n".join(DEFAULT_DISABLE_KEYWORDS)}),
                    ("AutomaticDisableChannelErrorThreshold", "int", {"data-min": "1", "placeholder": "3"}),
                    ("AutomaticDisableChannelErrorWindowSeconds", "number", {"data-above": "0", "placeholder": "60"}),
                    ("ChannelDisableThreshold", "number", {"data-min": "0"}),
                ),
            ),
            (
                "logs",
                (
                    ("LogConsumeEnabled", "bool", {}),
                    ("LogRetentionDays", "int", {"data-min": "0", "data-max": "36500"}),
                ),
            ),
        ),
    ),
    (
        "pricing",
        (
            (
                "ratios",
                (
                    ("ModelRatio", "ratio", {"placeholder": '{"gpt-4o": 1.25}'}),
                    ("CompletionRatio", "ratio", {"placeholder": '{"gpt-4o": 4}'}),
                    ("ModelPrice", "ratio", {"placeholder": '{"dall-e-3": 0.04}'}),
                    ("CacheRatio", "ratio", {"placeholder": '{"gpt-4o": 0.5}'}),
                    ("CreateCacheRatio", "ratio", {"placeholder": '{"claude-sonnet-4": 1.25}'}),
                ),
            ),
            (
                "groups",
                (
                    ("GroupRatio", "ratio", {"placeholder": '{"default": 1, "vip": 1, "svip": 1}'}),
                    ("GroupGroupRatio", "nested", {"placeholder": '{"vip": {"default": 0.5}}'}),
                    ("UserUsableGroups", "strings", {"placeholder": '{"default": "Default group"}'}),
                ),
            ),
            (
                "billing",
                (
                    ("SelfUseModeEnabled", "bool", {}),
                    ("EnableFreeModelPreConsume", "bool", {}),
                    ("PreConsumedQuota", "int", {"data-min": "0"}),
                ),
            ),
        ),
    ),
    (
        "system",
        (
            (
                "site",
                (
                    ("SystemName", "text", {"maxlength": "100"}),
                    ("Logo", "text", {"data-logo": ""}),
                    ("Notice", "textarea", {}),
                    ("Footer", "textarea", {}),
                    ("ServerAddress", "text", {}),
                ),
            ),
            (
                "signup",
                (
                    ("RegisterEnabled", "bool", {}),
                    ("PasswordRegisterEnabled", "bool", {}),
                    ("PasswordLoginEnabled", "bool", {}),
                ),
            ),
            (
                "mail",
                (
                    ("SMTPServer", "text", {"placeholder": "smtp.example.com"}),
                    ("SMTPPort", "int", {"data-min": "1", "data-max": "65535", "placeholder": "587"}),
                    ("SMTPSSLEnabled", "bool", {}),
                    ("SMTPStartTLSRequired", "bool", {}),
                    ("SMTPAccount", "text", {}),
                    ("SMTPFrom", "text", {}),
                    ("SMTPToken", "secret", {"autocomplete": "new-password"}),
                    ("EmailVerificationEnabled", "bool", {}),
                    ("EmailDomainWhitelist", "text", {}),  # before its switch: saved first
                    ("EmailDomainRestrictionEnabled", "bool", {}),
                    ("EmailAliasRestrictionEnabled", "bool", {}),
                ),
            ),
            (
                "turnstile",
                (
                    ("TurnstileSiteKey", "text", {}),  # before the switch, which needs it
                    ("TurnstileSecretKey", "secret", {"autocomplete": "new-password"}),
                    ("TurnstileCheckEnabled", "bool", {}),
                ),
            ),
            (
                "quota",
                (
                    ("QuotaForNewUser", "usd", {"data-min": "0"}),
                    ("QuotaForInviter", "usd", {"data-min": "0"}),
                    ("QuotaForInvitee", "usd", {"data-min": "0"}),
                    ("QuotaPerUnit", "number", {"data-above": "0"}),
                ),
            ),
        ),
    ),
)
JSON_KINDS = frozenset({"ratio", "nested", "strings"})
OPTION_KEYS = tuple(key for _, groups in SECTIONS for _, fields in groups for key, _, _ in fields)


def _attrs(attrs: dict[str, str]) -> str:
    return "".join(f' {name}="{escape(value, quote=True)}"' for name, value in attrs.items())


def _field(lang: str, key: str, kind: str, attrs: dict[str, str]) -> str:
    label = text(lang, f"set_{key}")
    common = f'name="{key}" data-kind="{kind}" aria-describedby="err-{key}"{_attrs(attrs)}'
    if kind == "bool":
        control = f'<label class="check"><input type="checkbox" {common}>{label}</label>'
    elif kind in JSON_KINDS:
        control = f'<label>{label}<textarea {common} rows="8" spellcheck="false"></textarea></label>'
    elif kind == "textarea":
        control = f'<label>{label}<textarea {common} rows="4"></textarea></label>'
    elif kind in ("int", "number", "usd"):
        step = "1" if kind == "int" else "any"
        control = f'<label>{label}<input type="number" step="{step}" {common}></label>'
    elif kind == "secret":  # never filled in (the API does not send secrets back); typed: saved
        control = f'<label>{label}<input type="password" {common}></label>'
    else:
        control = f'<label>{label}<input type="text" {common}></label>'
    help_key = f"set_{key}_help"
    help_text = f'<small class="help">{text(lang, help_key)}</small>' if help_key in TRANSLATIONS[lang] else ""
    error = f'<small class="error" id="err-{key}" data-error="{key}"></small>'
    return f'<div class="field">{control}{help_text}{error}</div>'


def _section(lang: str, name: str, groups: tuple[tuple[str, tuple[Field, ...]], ...]) -> str:
    sets = "".join(
        f"<fieldset><legend>{text(lang, f'set_grp_{group}')}</legend>"
        + "".join(_field(lang, *f) for f in fields)
        + "</fieldset>"
        for group, fields in groups
    )
    return (
        f'<form class="card settings" id="settings-{name}" data-form="settings-{name}" novalidate>'
        f"<h2>{text(lang, f'set_sec_{name}')}</h2>{sets}"
        f'<div class="settings-save"><button type="submit">{text(lang, "save")}</button>'
        '<small data-status role="status"></small></div></form>'
    )


@get("/console/settings", include_in_schema=False)
async def settings_page(request: Request[Any, Any, Any]) -> Response[str] | Redirect:
    if refused := admin_only(request):
        return refused
    lang = lang_of(request)
    session = session_of(request) or {}
    if int(session.get("role") or 0) < ROLE_ROOT:
        body = f'<p class="card" data-root-only>{text(lang, "set_root_only")}</p>'
    else:
        tabs = " · ".join(f'<a href="#settings-{name}">{text(lang, f"set_sec_{name}")}</a>' for name, _ in SECTIONS)
        tabs += f' · <a href="/console/oauth-providers">{text(lang, "cop_title")}</a>'  # a page of its own
        body = f'<nav class="settings-tabs">{tabs}</nav>' + "".join(_section(lang, n, g) for n, g in SECTIONS)
    return page(request, "settings", "settings_title", body, active="/console/settings", script="settings.js")


ROUTES = [settings_page]
