"""Admin: channels (upstream accounts): table, create/edit form from the type's settings schema, tests.

The page renders the frame: the filter toolbar, the (hidden) channel form, the (hidden) multi-key
panel and an empty table. ``channels.js`` fills them from ``/api/channel/*``; the type-specific
fields of the form are generated in the browser from the channel type's ``settings_schema``.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.response import Redirect

from ..i18n import add_strings, lang_of
from ..layout import admin_only, page, pager, table, text

STRINGS = {
    "en": {
        "ch_type_about": "About this channel type",
        "channels_title": "Channels",
        "ch_search_label": "Search",
        "ch_search": "Name, ID, base URL or key",
        "ch_all_status": "All statuses",
        "ch_all_types": "All types",
        "ch_status_0": "Unknown",
        "ch_status_1": "Enabled",
        "ch_status_2": "Manually disabled",
        "ch_status_3": "Auto disabled",
        "ch_tag_mode": "Group by tag",
        "ch_add": "Add channel",
        "ch_test_all": "Test all channels",
        "ch_confirm_test_all": "Test every enabled and auto-disabled channel now? "
        "A small request is sent to each upstream.",
        "ch_test_all_done": "Tested {tested} channel(s): {succeeded} passed, {failed} failed, "
        "{disabled} disabled, {enabled} enabled again.",
        "ch_id": "ID",
        "ch_name": "Name",
        "ch_type": "Type",
        "ch_type_unknown": "Type {id}",
        "ch_group": "Groups",
        "ch_tag": "Tag",
        "ch_priority": "Priority",
        "ch_weight": "Weight",
        "ch_response_time": "Response time",
        "ch_balance": "Balance",
        "ch_used_quota": "Used quota",
        "ch_multi_key": "Multi-key",
        "ch_not_tested": "Not tested",
        "ch_tested_at": "Tested at {time}",
        "ch_keys_summary": "{size} keys, {disabled} disabled",
        "ch_test": "Test",
        "ch_testing": "Testing…",
        "ch_test_ok": "OK {ms} ms",
        "ch_edit": "Edit",
        "ch_refresh_balance": "Refresh balance",
        "ch_balance_updated": "Balance updated: {balance}",
        "ch_updated_at": "Updated at {time}",
        "ch_confirm_delete": "Delete channel #{id} ({name})?",
        "ch_no_channels": "No channels.",
        "ch_create_title": "Add channel",
        "ch_edit_title": "Edit channel #{id}",
        "ch_key": "Key",
        "ch_key_help_create": "For batch or multi-key creation put one key per line.",
        "ch_key_help_edit": "Leave empty to keep the current key.",
        "ch_mode": "Creation mode",
        "ch_mode_single": "Single channel",
        "ch_mode_batch": "Batch: one channel per key line",
        "ch_mode_multi": "Multi-key: one channel holding every key",
        "ch_prefix_names": "Append each key's first characters to the name",
        "ch_multi_key_mode": "Key selection",
        "ch_mkm_random": "Random",
        "ch_mkm_polling": "Polling",
        "ch_key_mode": "Keys entered above",
        "ch_key_mode_append": "Append to the current keys",
        "ch_key_mode_replace": "Replace every current key",
        "ch_base_url": "Base URL",
        "ch_base_url_help": "Empty: the type's default address.",
        "ch_models": "Models (comma-separated)",
        "ch_fill_models": "Fill default models",
        "ch_fetch_models": "Fetch from upstream",
        "ch_models_fetched": "{n} model(s) fetched from the upstream.",
        "ch_groups_help": "Comma-separated; click a group to add or remove it.",
        "ch_model_mapping": "Model mapping (JSON)",
        "ch_model_mapping_help": 'Requested model → upstream model, e.g. {"gpt-4": "gpt-4o"}.',
        "ch_invalid_json": "Must be a JSON object.",
        "ch_fix_errors": "Please correct the marked fields.",
        "ch_test_model": "Test model",
        "ch_auto_ban": "Disable automatically when tests or requests fail",
        "ch_type_settings": "Settings of this channel type",
        "ch_no_type_settings": "This channel type has no extra settings.",
        "ch_advanced": "Advanced",
        "ch_other": "Extra parameter (other)",
        "ch_openai_organization": "OpenAI organization",
        "ch_status_code_mapping": "Status code mapping (JSON)",
        "ch_param_override": "Parameter override (JSON)",
        "ch_header_override": "Header override (JSON)",
        "ch_proxy": "Proxy",
        "ch_proxy_help": "http://, https:// or socks5:// URL; empty: no proxy.",
        "ch_system_prompt": "System prompt",
        "ch_system_prompt_override": "Replace the client's system prompt",
        "ch_force_format": "Force the OpenAI response format",
        "ch_thinking_to_content": "Put reasoning content into <think> tags",
        "ch_pass_through": "Pass the request body through unchanged",
        "ch_remark": "Remark",
        "ch_cancel": "Cancel",
        "ch_created": "{n} channel(s) created.",
        "ch_saved": "Channel saved.",
        "ch_deleted": "Channel deleted.",
        "ch_copied": "Copied as channel #{id}.",
        "ch_keys_title": "Keys of channel #{id} ({name})",
        "ch_keys_counts": "{enabled} enabled, {manual} manually disabled, {auto} auto disabled",
        "ch_keys_more": "Showing the first {shown} of {total} keys.",
        "ch_key_index": "#",
        "ch_key_reason": "Reason",
        "ch_disabled_time": "Disabled at",
        "ch_manage_keys": "Manage keys",
        "ch_enable_all_keys": "Enable all keys",
        "ch_disable_all_keys": "Disable all keys",
        "ch_delete_auto_keys": "Delete auto-disabled keys",
        "ch_confirm_delete_key": "Delete key #{index}?",
        "ch_close": "Close",
        "ch_tag_group": "Tag: {tag} ({n})",
        "ch_tag_enable": "Enable all in tag",
        "ch_tag_disable": "Disable all in tag",
        "ch_filter_tag": "Show only this tag",
    },
    "zh": {
        "ch_type_about": "关于此渠道类型",
        "channels_title": "渠道管理",
        "ch_search_label": "搜索",
        "ch_search": "渠道名称、ID、Base URL 或密钥",
        "ch_all_status": "全部状态",
        "ch_all_types": "全部类型",
        "ch_status_0": "未知状态",
        "ch_status_1": "已启用",
        "ch_status_2": "手动禁用",
        "ch_status_3": "自动禁用",
        "ch_tag_mode": "标签聚合模式",
        "ch_add": "添加渠道",
        "ch_test_all": "测试所有渠道",
        "ch_confirm_test_all": "现在测试所有已启用和自动禁用的渠道？将向每个上游发送一个小请求。",
        "ch_test_all_done": "已测试 {tested} 个渠道：{succeeded} 个通过，{failed} 个失败，"
        "{disabled} 个被禁用，{enabled} 个重新启用。",
        "ch_id": "ID",
        "ch_name": "名称",
        "ch_type": "类型",
        "ch_type_unknown": "类型 {id}",
        "ch_group": "分组",
        "ch_tag": "标签",
        "ch_priority": "优先级",
        "ch_weight": "权重",
        "ch_response_time": "响应时间",
        "ch_balance": "余额",
        "ch_used_quota": "已用额度",
        "ch_multi_key": "多密钥",
        "ch_not_tested": "未测试",
        "ch_tested_at": "测试时间 {time}",
        "ch_keys_summary": "{size} 个密钥，{disabled} 个已禁用",
        "ch_test": "测试",
        "ch_testing": "测试中…",
        "ch_test_ok": "成功 {ms} ms",
        "ch_edit": "编辑",
        "ch_refresh_balance": "更新余额",
        "ch_balance_updated": "余额已更新：{balance}",
        "ch_updated_at": "更新时间 {time}",
        "ch_confirm_delete": "确定删除渠道 #{id}（{name}）？",
        "ch_no_channels": "暂无渠道。",
        "ch_create_title": "添加渠道",
        "ch_edit_title": "编辑渠道 #{id}",
        "ch_key": "密钥",
        "ch_key_help_create": "批量创建或多密钥模式下，每行一个密钥。",
        "ch_key_help_edit": "留空则保持原密钥不变。",
        "ch_mode": "添加模式",
        "ch_mode_single": "单个渠道",
        "ch_mode_batch": "批量创建：每行密钥一个渠道",
        "ch_mode_multi": "多密钥：一个渠道包含所有密钥",
        "ch_prefix_names": "在名称后附加每个密钥的前几个字符",
        "ch_multi_key_mode": "密钥选择方式",
        "ch_mkm_random": "随机",
        "ch_mkm_polling": "轮询",
        "ch_key_mode": "上方填写的密钥",
        "ch_key_mode_append": "追加到现有密钥",
        "ch_key_mode_replace": "覆盖全部现有密钥",
        "ch_base_url": "API 地址（Base URL）",
        "ch_base_url_help": "留空则使用该类型的默认地址。",
        "ch_models": "模型（逗号分隔）",
        "ch_fill_models": "填入相关模型",
        "ch_fetch_models": "获取模型列表",
        "ch_models_fetched": "已从上游获取 {n} 个模型。",
        "ch_groups_help": "逗号分隔；点击分组可添加或移除。",
        "ch_model_mapping": "模型重定向（JSON）",
        "ch_model_mapping_help": '请求模型 → 上游模型，例如 {"gpt-4": "gpt-4o"}。',
        "ch_invalid_json": "必须是 JSON 对象。",
        "ch_fix_errors": "请修正标出的字段。",
        "ch_test_model": "测试模型",
        "ch_auto_ban": "测试或请求失败时自动禁用",
        "ch_type_settings": "该渠道类型的设置",
        "ch_no_type_settings": "此渠道类型没有额外设置。",
        "ch_advanced": "高级设置",
        "ch_other": "其他参数（other）",
        "ch_openai_organization": "OpenAI 组织",
        "ch_status_code_mapping": "状态码复写（JSON）",
        "ch_param_override": "参数覆盖（JSON）",
        "ch_header_override": "请求头覆盖（JSON）",
        "ch_proxy": "代理",
        "ch_proxy_help": "http://、https:// 或 socks5:// 地址；留空则不使用代理。",
        "ch_system_prompt": "系统提示词",
        "ch_system_prompt_override": "覆盖客户端的系统提示词",
        "ch_force_format": "强制使用 OpenAI 响应格式",
        "ch_thinking_to_content": "将思考内容放入 <think> 标签",
        "ch_pass_through": "请求体原样透传",
        "ch_remark": "备注",
        "ch_cancel": "取消",
        "ch_created": "已创建 {n} 个渠道。",
        "ch_saved": "渠道已保存。",
        "ch_deleted": "渠道已删除。",
        "ch_copied": "已复制为渠道 #{id}。",
        "ch_keys_title": "渠道 #{id}（{name}）的密钥",
        "ch_keys_counts": "{enabled} 个启用，{manual} 个手动禁用，{auto} 个自动禁用",
        "ch_keys_more": "仅显示前 {shown} 个密钥，共 {total} 个。",
        "ch_key_index": "#",
        "ch_key_reason": "禁用原因",
        "ch_disabled_time": "禁用时间",
        "ch_manage_keys": "管理密钥",
        "ch_enable_all_keys": "启用全部密钥",
        "ch_disable_all_keys": "禁用全部密钥",
        "ch_delete_auto_keys": "删除自动禁用的密钥",
        "ch_confirm_delete_key": "确定删除密钥 #{index}？",
        "ch_close": "关闭",
        "ch_tag_group": "标签：{tag}（{n}）",
        "ch_tag_enable": "启用该标签下全部渠道",
        "ch_tag_disable": "禁用该标签下全部渠道",
        "ch_filter_tag": "只看此标签",
    },
}
add_strings(STRINGS)

COLUMNS = (
    "ch_id",
    "ch_name",
    "ch_type",
    "status",
    "ch_group",
    "ch_tag",
    "ch_priority",
    "ch_weight",
    "ch_response_time",
    "ch_balance",
    "ch_used_quota",
    "ch_multi_key",
    "actions",
)
KEY_COLUMNS = ("ch_key_index", "ch_key", "status", "ch_key_reason", "ch_disabled_time", "actions")


def _error(name: str) -> str:
    return f'<small class="error" data-field-error="{name}"></small>'


def _help(lang: str, key: str, extra: str = "") -> str:
    return f'<small class="help"{extra}>{text(lang, key)}</small>'


def _input(lang: str, name: str, key: str, kind: str = "text", extra: str = "", help_key: str = "") -> str:
    """A labelled input with its help line and the spot its server-side error is shown in."""
    help_text = _help(lang, help_key) if help_key else ""
    return (
        f'<div class="field"><label>{text(lang, key)}<input name="{name}" type="{kind}" {extra}></label>'
        f"{help_text}{_error(name)}</div>"
    )


def _area(lang: str, name: str, key: str, rows: int = 3, extra: str = "", help_key: str = "") -> str:
    help_text = _help(lang, help_key) if help_key else ""
    return (
        f'<div class="field wide"><label>{text(lang, key)}'
        f'<textarea name="{name}" rows="{rows}" {extra}></textarea></label>'
        f"{help_text}{_error(name)}</div>"
    )


def _check(lang: str, name: str, key: str, extra: str = "") -> str:
    return (
        f'<div class="field"><label class="check"><input name="{name}" type="checkbox" {extra}>'
        f"{text(lang, key)}</label>"
        f"{_error(name)}</div>"
    )


def _select(lang: str, name: str, key: str, options: tuple[tuple[str, str], ...], wrap: str = "") -> str:
    opts = "".join(f'<option value="{value}">{text(lang, label)}</option>' for value, label in options)
    return (
        f'<div class="field"{wrap}><label>{text(lang, key)}<select name="{name}">{opts}</select></label>'
        f"{_error(name)}</div>"
    )


def _toolbar(lang: str) -> str:
    statuses = "".join(
        f'<option value="{value}">{text(lang, label)}</option>'
        for value, label in (("", "ch_all_status"), ("1", "ch_status_1"), ("2", "ch_status_2"), ("3", "ch_status_3"))
    )
    return f"""<form class="card inline ch-toolbar" data-form="channel-filter">
<label>{text(lang, "ch_search_label")}<input name="keyword" type="search" maxlength="255"
 placeholder="{text(lang, "ch_search")}"></label>
<label>{text(lang, "status")}<select name="status">{statuses}</select></label>
<label>{text(lang, "ch_type")}<select name="type">
<option value="">{text(lang, "ch_all_types")}</option></select></label>
<label>{text(lang, "ch_tag")}<input name="tag" type="text" maxlength="255"></label>
<label class="check"><input name="tag_mode" type="checkbox">{text(lang, "ch_tag_mode")}</label>
<button type="submit">{text(lang, "filter")}</button>
<span class="ch-buttons">
<button type="button" data-action="add">{text(lang, "ch_add")}</button>
<button type="button" class="secondary" data-action="test-all">{text(lang, "ch_test_all")}</button>
</span>
</form>"""


def _form(lang: str) -> str:
    modes = (("single", "ch_mode_single"), ("batch", "ch_mode_batch"), ("multi_to_single", "ch_mode_multi"))
    key_modes = (("append", "ch_key_mode_append"), ("replace", "ch_key_mode_replace"))
    pick = (("random", "ch_mkm_random"), ("polling", "ch_mkm_polling"))
    return f"""<form class="card ch-form" data-form="channel" hidden>
<h2 data-form-title>{text(lang, "ch_create_title")}</h2>
<input name="id" type="hidden">
<div class="ch-grid">
<div class="field wide"><label>{text(lang, "ch_type")}<select name="type" required></select></label>
<details class="help ch-type-about" data-type-about hidden><summary>{text(lang, "ch_type_about")}</summary>
<small data-type-help></small></details>{_error("type")}</div>
{_input(lang, "name", "ch_name", extra='maxlength="255"')}
<div class="field wide"><label>{text(lang, "ch_key")}<textarea name="key" rows="3" autocomplete="off"
 spellcheck="false"></textarea></label>
{_help(lang, "ch_key_help_create", ' data-only="key-help-create"')}
{_help(lang, "ch_key_help_edit", ' data-only="key-help-edit"')}
{_error("key")}</div>
{_select(lang, "mode", "ch_mode", modes, ' data-only="mode"')}
{_select(lang, "multi_key_mode", "ch_multi_key_mode", pick, ' data-only="multi_key_mode"')}
{_select(lang, "key_mode", "ch_key_mode", key_modes, ' data-only="key_mode"')}
<div class="field" data-only="prefix"><label class="check"><input name="batch_add_set_key_prefix_2_name"
 type="checkbox">{text(lang, "ch_prefix_names")}</label></div>
{_input(lang, "base_url", "ch_base_url", extra='maxlength="1024"', help_key="ch_base_url_help")}
<div class="field wide"><label>{text(lang, "ch_models")}<textarea name="models" rows="3"
 spellcheck="false"></textarea></label>
<span class="ch-buttons">
<button type="button" class="secondary" data-action="fill-models">{text(lang, "ch_fill_models")}</button>
<button type="button" class="secondary" data-action="fetch-models">{text(lang, "ch_fetch_models")}</button></span>
{_error("models")}</div>
<div class="field wide"><label>{text(lang, "ch_group")}<input name="group" type="text" maxlength="255"></label>
<span class="ch-chips" data-groups></span>{_help(lang, "ch_groups_help")}{_error("group")}</div>
{_area(lang, "model_mapping", "ch_model_mapping", 3, 'spellcheck="false"', "ch_model_mapping_help")}
{_input(lang, "priority", "ch_priority", "number", 'step="1"')}
{_input(lang, "weight", "ch_weight", "number", 'step="1" min="0" max="10000"')}
{_input(lang, "tag", "ch_tag", extra='maxlength="255"')}
{_input(lang, "test_model", "ch_test_model", extra='maxlength="255"')}
{_check(lang, "auto_ban", "ch_auto_ban")}
</div>
<fieldset class="ch-settings" data-settings><legend>{text(lang, "ch_type_settings")}</legend>
<div data-settings-fields></div></fieldset>
<details class="ch-advanced"><summary>{text(lang, "ch_advanced")}</summary><div class="ch-grid">
{_input(lang, "other", "ch_other", extra='maxlength="10000"')}
{_input(lang, "openai_organization", "ch_openai_organization", extra='maxlength="255"')}
{_input(lang, "setting.proxy", "ch_proxy", extra='maxlength="1024"', help_key="ch_proxy_help")}
{_input(lang, "remark", "ch_remark", extra='maxlength="255"')}
{_area(lang, "setting.system_prompt", "ch_system_prompt", 3)}
{_check(lang, "setting.system_prompt_override", "ch_system_prompt_override")}
{_check(lang, "setting.force_format", "ch_force_format")}
{_check(lang, "setting.thinking_to_content", "ch_thinking_to_content")}
{_check(lang, "setting.pass_through_body_enabled", "ch_pass_through")}
{_area(lang, "status_code_mapping", "ch_status_code_mapping", 2, 'spellcheck="false"')}
{_area(lang, "param_override", "ch_param_override", 3, 'spellcheck="false"')}
{_area(lang, "header_override", "ch_header_override", 3, 'spellcheck="false"')}
</div></details>
<p class="ch-buttons"><button type="submit">{text(lang, "save")}</button>
<button type="button" class="secondary" data-action="cancel">{text(lang, "ch_cancel")}</button></p>
</form>"""


def _keys_panel(lang: str) -> str:
    return f"""<section class="card ch-keys" data-panel="keys" hidden>
<h2 data-keys-title></h2>
<p data-keys-counts></p>
<p class="ch-buttons">
<button type="button" class="secondary" data-action="keys-enable-all">{text(lang, "ch_enable_all_keys")}</button>
<button type="button" class="secondary" data-action="keys-disable-all">{text(lang, "ch_disable_all_keys")}</button>
<button type="button" class="danger" data-action="keys-delete-auto">{text(lang, "ch_delete_auto_keys")}</button>
<button type="button" class="secondary" data-action="keys-close">{text(lang, "ch_close")}</button></p>
{table(lang, "channel-keys", KEY_COLUMNS)}
<p class="help" data-keys-more hidden></p>
</section>"""


@get("/console/channels", include_in_schema=False)
async def channels_page(request: Request[Any, Any, Any]) -> Response[str] | Redirect:
    if refused := admin_only(request):
        return refused
    lang = lang_of(request)
    body = f"""{_toolbar(lang)}
{_form(lang)}
{_keys_panel(lang)}
<div class="ch-scroll">{table(lang, "channels", COLUMNS)}</div>
{pager(lang, "channels")}"""
    return page(request, "channels", "channels_title", body, active="/console/channels", script="channels.js")


ROUTES = [channels_page]
