"""The live checks with the official SDKs: ``openai``, ``anthropic`` and ``google-genai``.

Each SDK calls the kit's channel of every channel type of the plugin that its format reaches
(native, or through converters), once plainly and once streaming, and must see the upstream's
text and usage; the call's log row must charge exactly that usage. An SDK that is not installed,
or whose format no installed plugin serves, is skipped with a note saying what to install.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from . import samples
from .checking import what
from .findings import Finding, Findings
from .live_checks import Live
from .samples import KIT_TEXT, KIT_USAGE, kit_model
from .subject import PluginUnderTest, reaches

# -- the official SDKs -------------------------------------------------------------------------

Usage2 = tuple[int, int] | None


def _openai(live: Live, model: str, stream: bool) -> tuple[str, Usage2]:
    import openai

    client = live.client(
        "openai", lambda: openai.OpenAI(base_url=live.gateway.base_url, api_key=live.key, max_retries=0, timeout=30)
    )
    messages: Any = [{"role": "system", "content": samples.SYSTEM}, {"role": "user", "content": samples.PROMPT}]
    if not stream:
        answer = client.chat.completions.create(model=model, messages=messages, max_tokens=samples.MAX_TOKENS)
        usage = (answer.usage.prompt_tokens, answer.usage.completion_tokens) if answer.usage else None
        return answer.choices[0].message.content or "", usage
    text, usage = "", None
    chunks = client.chat.completions.create(
        model=model,
        messages=messages,
        max_tokens=samples.MAX_TOKENS,
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in chunks:
        if chunk.usage:
            usage = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
        for choice in chunk.choices:
            text += choice.delta.content or ""
    return text, usage


def _anthropic(live: Live, model: str, stream: bool) -> tuple[str, Usage2]:
    import anthropic

    client = live.client(
        "anthropic", lambda: anthropic.Anthropic(base_url=live.gateway.url, api_key=live.key, max_retries=0, timeout=30)
    )
    request: Any = {
        "model": model,
        "max_tokens": samples.MAX_TOKENS,
        "system": samples.SYSTEM,
        "messages": [{"role": "user", "content": samples.PROMPT}],
    }
    if stream:
        with client.messages.stream(**request) as events:
            for _ in events:
                pass
            message = events.get_final_message()
    else:
        message = client.messages.create(**request)
    text = "".join(block.text for block in message.content if block.type == "text")
    return text, (message.usage.input_tokens, message.usage.output_tokens)


def _genai(live: Live, model: str, stream: bool) -> tuple[str, Usage2]:
    from google import genai
    from google.genai import types

    client = live.client(
        "google-genai",
        lambda: genai.Client(
            api_key=live.key,
            http_options=types.HttpOptions(base_url=live.gateway.url, api_version="v1beta", timeout=30_000),
        ),
    )
    config = types.GenerateContentConfig(system_instruction=samples.SYSTEM, max_output_tokens=samples.MAX_TOKENS)
    if stream:
        text, meta = "", None
        for chunk in client.models.generate_content_stream(model=model, contents=samples.PROMPT, config=config):
            text += chunk.text or ""
            meta = chunk.usage_metadata or meta
    else:
        answer = client.models.generate_content(model=model, contents=samples.PROMPT, config=config)
        text, meta = answer.text or "", answer.usage_metadata
    usage = (meta.prompt_token_count or 0, meta.candidates_token_count or 0) if meta else None
    return text, usage


SDKS: dict[str, tuple[str, str, str, Callable[[Live, str, bool], tuple[str, Usage2]]]] = {
    "live-openai": ("openai", "openai", "openai.chat", _openai),
    "live-anthropic": ("anthropic", "anthropic", "claude.messages", _anthropic),
    "live-google-genai": ("google-genai", "google.genai", "gemini.generate", _genai),
}
"""check -> (package to install, module to import, the format its clients speak, the call)."""


def check_sdk(live: Live, s: PluginUnderTest, check: str) -> list[Finding]:
    package, module, client_dialect, run = SDKS[check]
    found = Findings(check)
    try:
        importlib.import_module(module)
    except ImportError:
        found.skip(package, f"the {package} package is not installed here: pip install {package} to check its clients")
        return found.items
    if live.registry.dialect(client_dialect) is None:
        found.skip(
            package,
            f"the gateway serves no {client_dialect}, so {package} clients cannot call it: install (and load) "
            "the plugin that defines it to check them",
        )
        return found.items
    for ct in s.channel_types:
        if getattr(ct, "task_platform", "") and not ct.dialects:
            continue  # a task type serves its plugin's own routes, never the SDKs' APIs
        subject = f"{package} through channel type {ct.id}"
        if problem := live.channel_problem(ct):
            found.fail(subject, problem)
            continue
        if not reaches(live.registry.converters(), client_dialect, ct.dialects):
            found.skip(
                subject,
                f"{client_dialect} clients cannot reach it (it speaks {', '.join(ct.dialects)}); if it serves chat, "
                "register a converter between openai.chat and its format",
            )
            continue
        for stream in (False, True):
            where = subject + (", stream" if stream else "")
            try:
                text, usage = run(live, kit_model(ct.id), stream)
            except Exception as exc:
                found.fail(where, f"the call failed: {what(exc)}")
                continue
            if text != KIT_TEXT:
                problem = f"the client got the text {text!r}; the upstream said {KIT_TEXT!r}"
            elif usage != KIT_USAGE:
                problem = f"the client sees usage {usage} (prompt, completion); the upstream reported {KIT_USAGE}"
            else:
                problem = live.log_problem(kit_model(ct.id), KIT_USAGE)
            if problem:
                found.fail(where, problem)
            else:
                found.ok(where)
    if not s.channel_types:
        found.none("the plugin registers no channel types")
    return found.items
