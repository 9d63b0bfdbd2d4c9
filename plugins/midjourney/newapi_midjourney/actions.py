"""Midjourney actions: what each submit route means, how a Plus ``customId`` decodes, and the
model names (``mj_imagine``, ``mj_turbo_upscale``, ``swap_face``) that price and route them."""

from __future__ import annotations

import re

IMAGINE, DESCRIBE, BLEND, SHORTEN, UPLOAD, EDITS = "IMAGINE", "DESCRIBE", "BLEND", "SHORTEN", "UPLOAD", "EDITS"
UPSCALE, VARIATION, REROLL, MODAL, VIDEO, SWAP_FACE = "UPSCALE", "VARIATION", "REROLL", "MODAL", "VIDEO", "SWAP_FACE"
LOW_VARIATION, HIGH_VARIATION, ZOOM, PAN = "LOW_VARIATION", "HIGH_VARIATION", "ZOOM", "PAN"
INPAINT, CUSTOM_ZOOM = "INPAINT", "CUSTOM_ZOOM"

# Submit routes that start a new task, and the action each one is.
NEW_TASK_ROUTES = {
    "imagine": IMAGINE,
    "describe": DESCRIBE,
    "blend": BLEND,
    "shorten": SHORTEN,
    "upload-discord-images": UPLOAD,
    "edits": EDITS,
}
# Submit routes that act on an earlier task of the same user.
FOLLOW_UP_ROUTES = ("change", "simple-change", "action", "modal", "video")
CHANGE_ACTIONS = (UPSCALE, VARIATION, REROLL)
MODES = {"mj-fast": "fast", "mj-relax": "relax", "mj-turbo": "turbo"}

# Midjourney-Proxy-Plus button ids (``customId``) and the action each one asks for.
CUSTOM_ID_PREFIXES = (
    ("MJ::JOB::upsample::", UPSCALE),
    ("MJ::JOB::upsample_v", UPSCALE),
    ("MJ::JOB::variation::", VARIATION),
    ("MJ::JOB::reroll::", REROLL),
    ("MJ::JOB::low_variation::", LOW_VARIATION),
    ("MJ::JOB::high_variation::", HIGH_VARIATION),
    ("MJ::JOB::pan_", PAN),
    ("MJ::Outpaint::", ZOOM),
    ("MJ::CustomZoom::", CUSTOM_ZOOM),
    ("MJ::Inpaint::", INPAINT),
    ("MJ::Job::PicReader::", DESCRIBE),
    ("MJ::JOB::video::", VIDEO),
    ("MJ::JOB::animate", VIDEO),
)

# New API's default per-call prices in USD (setting/ratio_setting ModelPrice defaults).
BASE_PRICES = {
    "mj_imagine": 0.1,
    "mj_variation": 0.1,
    "mj_reroll": 0.1,
    "mj_blend": 0.1,
    "mj_modal": 0.1,
    "mj_zoom": 0.1,
    "mj_shorten": 0.1,
    "mj_high_variation": 0.1,
    "mj_low_variation": 0.1,
    "mj_pan": 0.1,
    "mj_inpaint": 0,
    "mj_custom_zoom": 0,
    "mj_describe": 0.05,
    "mj_upscale": 0.05,
    "swap_face": 0.05,
    "mj_upload": 0.05,
    "mj_video": 0.8,
    "mj_edits": 0.1,
}
# The /mj-fast, /mj-relax and /mj-turbo routes price their own models, at the same defaults.
MODE_PRICES = {
    f"mj_{mode}_{name[3:]}": price
    for mode in MODES.values()
    for name, price in BASE_PRICES.items()
    if name.startswith("mj_")
}
DEFAULT_PRICES = {**BASE_PRICES, **MODE_PRICES}
DEFAULT_MODELS = tuple(BASE_PRICES)


def model_for(action: str, mode: str | None = None) -> str:
    """The model an action is priced and routed as: ``mj_<action>``, ``mj_<mode>_<action>``, ``swap_face``."""
    if action == SWAP_FACE:
        return "swap_face"
    name = action.lower()
    return f"mj_{mode}_{name}" if mode else f"mj_{name}"


def action_of_custom_id(custom_id: str) -> str | None:
    for prefix, action in CUSTOM_ID_PREFIXES:
        if custom_id.startswith(prefix):
            return action
    return None


_SIMPLE = re.compile(r"^\s*(\S+)\s+([UVR])([1-4])?\s*$", re.IGNORECASE)


def parse_simple_change(content: str) -> tuple[str, str, int] | None:
    """``"1320098173412546 U2"`` -> (task id, UPSCALE, 2); ``"... R"`` -> REROLL; else None."""
    match = _SIMPLE.match(content or "")
    if match is None:
        return None
    task_id, letter, index = match.group(1), match.group(2).upper(), match.group(3)
    if letter == "R":
        return (task_id, REROLL, 0) if index is None else None
    if index is None:
        return None
    return task_id, {"U": UPSCALE, "V": VARIATION}[letter], int(index)


MODE_FLAGS = re.compile(r"\s*--(fast|relax|turbo)\b", re.IGNORECASE)


def clear_mode(prompt: str) -> str:
    """``MjModeClearEnabled``: drop ``--fast``, ``--relax`` and ``--turbo`` from a prompt."""
    return MODE_FLAGS.sub("", prompt).strip()
