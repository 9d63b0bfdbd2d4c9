"""A Claude request with cache reads and writes is charged by the formula in docs/billing.md."""

from __future__ import annotations

import anthropic

from newapi_host.billing.pricing import round_half_away

from .gateway import free_port, gw, unique  # noqa: F401  (module fixture)

USAGE = {
    "input_tokens": 120,
    "output_tokens": 40,
    "cache_read_input_tokens": 2000,
    "cache_creation_input_tokens": 600,
    "cache_creation": {"ephemeral_5m_input_tokens": 400, "ephemeral_1h_input_tokens": 200},
}


async def _anthropic_upstream(port: int):
    from aiohttp import web

    async def messages(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response(
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [{"type": "text", "text": "cached answer"}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": USAGE,
            }
        )

    app = web.Application()
    app.router.add_post("/v1/messages", messages)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


def test_cache_read_and_write_tokens_are_priced_to_the_unit(gw):  # noqa: F811
    port = free_port()
    runner = gw.run(_anthropic_upstream(port))
    try:
        model = unique("claude-cache")
        gw.option(
            ModelRatio={model: 1.5},
            CompletionRatio={model: 5},
            CacheRatio={model: 0.1},
            CreateCacheRatio={model: 1.25},
        )
        gw.channel(base_url=f"http://127.0.0.1:{port}", models=[model], type=14, key="sk-ant")
        client = anthropic.Anthropic(base_url=gw.url, api_key=gw.token(gw.user()), max_retries=0)
        message = client.messages.create(model=model, max_tokens=64, messages=[{"role": "user", "content": "hi"}])
        assert message.content[0].text == "cached answer"
        assert message.usage.cache_read_input_tokens == 2000
        log = gw.logs(model_name=model)[-1]
        # Anthropic semantics: input tokens exclude the cache; reads at 0.1, 5-minute writes at 1.25,
        # one-hour writes at 1.25 x 1.6; output at the completion ratio; all times model ratio 1.5.
        expected = round_half_away((120 + 2000 * 0.1 + 400 * 1.25 + 200 * 1.25 * 1.6 + 40 * 5) * 1.5)
        assert log["quota"] == expected
    finally:
        gw.run(runner.cleanup())
