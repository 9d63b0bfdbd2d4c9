"""The registry's contracts: typed contributions, conflicts naming both plugins, enabled filter."""

from __future__ import annotations

import pytest
from litestar import get, post
from newapi_fixture_acme import CHANNEL_TYPE, CONVERTER, DIALECT, AcmeAdapter

from newapi_host.plugins.contracts import (
    ChannelType,
    Converter,
    IngressRoute,
    LoginMethod,
    PaymentMethod,
    PricingDefaults,
)
from newapi_host.plugins.registry import (
    ConflictError,
    ContributionError,
    Registrar,
    Registry,
    route_key,
    routes_of,
)


def contributions(name: str, **adds):
    r = Registrar(name)
    for kind, items in adds.items():
        for item in items:
            getattr(r, kind)(item)
    return r.contributions


def test_channel_type_conflict_names_both_plugins_and_changes_nothing():
    reg = Registry()
    reg.add(contributions("acme", channel_type=[CHANNEL_TYPE]))
    rival = contributions(
        "rival",
        channel_type=[ChannelType(id=9001, name="Rival", dialects=("x",), adapter=AcmeAdapter())],
        pricing=[PricingDefaults(model_ratio={"rival-1": 1})],
    )
    with pytest.raises(ConflictError) as err:
        reg.add(rival)
    assert "channel type 9001" in str(err.value)
    assert "'acme'" in str(err.value) and "'rival'" in str(err.value)
    assert reg.contributions("rival") is None
    assert reg.channel_type(9001).name == "Acme"
    assert "rival-1" not in reg.pricing_defaults().get("ModelRatio", {})


def test_route_conflicts_between_plugins_and_with_the_host():
    @get("/mj/task/{id:str}/fetch")
    async def a(id: str) -> None: ...

    @get("/mj/task/{task_id:int}/fetch/")
    async def b(task_id: int) -> None: ...

    reg = Registry()
    reg.reserve_routes(["GET /api/status"])
    reg.add(contributions("first", dialect=[DIALECT]))
    first_routes = contributions("mj")
    first_routes.route_handlers.append(a)
    reg.add(first_routes)

    second = contributions("mj2")
    second.route_handlers.append(b)
    with pytest.raises(
        ConflictError, match=r"route GET /mj/task/\{\}/fetch is claimed by both plugin 'mj' and plugin 'mj2'"
    ):
        reg.add(second)

    @get("/api/status")
    async def status() -> None: ...

    shadow = contributions("shadow")
    shadow.route_handlers.append(status)
    with pytest.raises(ConflictError, match="claimed by both the host and plugin 'shadow'"):
        reg.add(shadow)

    @post("/acme/v1/chat")
    async def chat() -> None: ...

    clash = contributions("clash")
    clash.route_handlers.append(chat)
    with pytest.raises(ConflictError, match="route POST /acme/v1/chat is claimed by both plugin 'first'"):
        reg.add(clash)


def test_dialect_converter_payment_and_login_ids_are_exclusive():
    reg = Registry()
    reg.add(contributions("acme", dialect=[DIALECT], converter=[CONVERTER]))
    with pytest.raises(ConflictError, match="dialect acme.chat"):
        reg.add(contributions("copy", dialect=[DIALECT]))
    with pytest.raises(ConflictError, match="converter acme.chat -> openai.chat"):
        reg.add(contributions("copy", converter=[CONVERTER]))

    async def noop(*a):
        return ""

    pay = PaymentMethod(id="epay", name="Epay", create_order=noop, verify_notice=noop)
    reg.add(contributions("pay1", payment_method=[pay]))
    with pytest.raises(ConflictError, match="payment method epay"):
        reg.add(contributions("pay2", payment_method=[pay]))
    login = LoginMethod(id="github", name="GitHub", kind="redirect", start=noop, complete=noop)
    reg.add(contributions("gh1", login_method=[login]))
    with pytest.raises(ConflictError, match="login method github"):
        reg.add(contributions("gh2", login_method=[login]))


def test_pricing_defaults_merge_but_contradictions_are_conflicts():
    reg = Registry()
    reg.add(contributions("a", pricing=[PricingDefaults(model_ratio={"gpt-4o": 1.25}, completion_ratio={"gpt-4o": 4})]))
    reg.add(contributions("b", pricing=[PricingDefaults(model_ratio={"gpt-4o": 1.25, "other": 2})]))
    assert reg.pricing_defaults()["ModelRatio"] == {"gpt-4o": 1.25, "other": 2}
    with pytest.raises(ConflictError, match=r"ModelRatio for model 'gpt-4o' \(1.25 vs 3"):
        reg.add(contributions("c", pricing=[PricingDefaults(model_ratio={"gpt-4o": 3})]))


def test_malformed_contributions_are_rejected_with_the_plugin_named():
    r = Registrar("sloppy")
    with pytest.raises(ContributionError, match="plugin 'sloppy' passed dict as a channel type"):
        r.channel_type({"id": 1})  # type: ignore[arg-type]
    with pytest.raises(ContributionError, match="adapter without build_request"):
        r.channel_type(ChannelType(id=1, name="x", dialects=(), adapter=object()))  # type: ignore[arg-type]
    with pytest.raises(ContributionError, match="must be a number >= 0"):
        r.pricing(PricingDefaults(model_ratio={"m": -1}))
    with pytest.raises(ContributionError, match="to itself"):
        r.converter(Converter(source="a", target="a", request=dict, response=dict, stream=dict))

    async def noop(*a):
        return ""

    with pytest.raises(ContributionError, match="needs a start callable"):
        r.login_method(LoginMethod(id="x", name="x", kind="redirect", complete=noop))
    twice = Registrar("twice")
    twice.dialect(DIALECT)
    twice.dialect(DIALECT)
    with pytest.raises(ContributionError, match="registers dialect acme.chat twice"):
        Registry().add(twice.contributions)


def test_lookups_only_answer_for_enabled_plugins():
    reg = Registry()
    reg.add(
        contributions(
            "acme",
            channel_type=[CHANNEL_TYPE],
            dialect=[DIALECT],
            converter=[CONVERTER],
            pricing=[PricingDefaults(model_ratio={"acme-1": 0.5})],
        )
    )
    assert reg.channel_type(9001) is CHANNEL_TYPE
    reg.set_enabled("acme", False)
    assert reg.channel_type(9001) is None
    assert reg.channel_types() == [] and reg.dialects() == [] and reg.converters() == []
    assert reg.pricing_defaults() == {}
    assert reg.owner_of("channel type", "9001") == "acme"  # still claimed while off
    reg.set_enabled("acme", True)
    assert reg.dialect("acme.chat") is DIALECT


def test_route_keys_normalise_parameters_and_slashes():
    assert route_key("get", "/v1/models/{model:str}/") == "GET /v1/models/{}"
    assert route_key("POST", "/") == "POST /"

    @post(["/a", "/b/{x:int}"])
    async def h(x: int = 0) -> None: ...

    assert sorted(routes_of([h])) == ["POST /a", "POST /b/{}"]


def test_provides_summary_lists_every_kind():
    c = contributions(
        "acme",
        channel_type=[CHANNEL_TYPE],
        dialect=[DIALECT],
        converter=[CONVERTER],
        pricing=[PricingDefaults(model_ratio={"acme-1": 0.5})],
    )
    summary = c.provides()
    assert summary["channel_types"] == [{"id": 9001, "name": "Acme"}]
    assert summary["dialects"] == ["acme.chat"]
    assert summary["converters"] == ["acme.chat -> openai.chat"]
    assert summary["routes"] == ["POST /acme/v1/chat"]
    assert summary["priced_models"] == ["acme-1"]


def test_ingress_route_objects_are_plain_data():
    assert IngressRoute("POST", "/v1/chat/completions") == IngressRoute("POST", "/v1/chat/completions")
