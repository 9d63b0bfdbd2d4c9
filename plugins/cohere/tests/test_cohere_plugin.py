"""Registration, the SDK range, default prices, and the rule that the plugin imports only the SDK."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from newapi_cohere import plugin
from newapi_cohere.pricing import DEFAULT_MODELS, PRICING
from newapi_host.sdk import SDK_VERSION, Registrar

PLUGIN_ROOT = Path(__file__).resolve().parent.parent


def test_registration():
    registrar = Registrar("cohere")
    plugin.newapi_register_providers(registry=registrar)
    provides = registrar.contributions.provides()
    assert provides["channel_types"] == [{"id": 34, "name": "Cohere"}]
    assert provides["dialects"] == ["cohere.chat", "cohere.embed"]
    assert provides["converters"] == ["openai.chat -> cohere.chat", "openai.embeddings -> cohere.embed"]
    assert provides["routes"] == []  # upstream formats only: clients keep speaking OpenAI, Claude, Gemini
    assert set(DEFAULT_MODELS) <= set(provides["priced_models"])


def test_channel_type():
    cohere = plugin.COHERE
    assert (cohere.default_base_url, cohere.dialects) == ("https://api.cohere.com", ("cohere.chat", "cohere.embed"))
    assert "command-a-03-2025" in cohere.default_models and "embed-v4.0" in cohere.default_models


def test_the_sdk_range_admits_this_host():
    assert SDK_VERSION in SpecifierSet(plugin.NEWAPI_SDK)


@pytest.mark.parametrize(
    ("model", "ratio", "completion"),
    [
        ("command-a-03-2025", 1.25, 4),  # USD 2.50 / 10 per 1M
        ("command-r7b-12-2024", 0.01875, 4),  # USD 0.0375 / 0.15
        ("command-r-plus-08-2024", 1.25, 4),  # New API's defaults from here on
        ("command-r-08-2024", 0.075, 4),
        ("command-r-plus", 1.5, 5),
        ("command-r", 0.25, 3),
        ("embed-v4.0", 0.06, 1),  # USD 0.12 per 1M
        ("embed-english-v3.0", 0.05, 1),
    ],
)
def test_prices(model, ratio, completion):
    tables = PRICING.tables()
    assert tables["ModelRatio"][model] == ratio
    assert tables["CompletionRatio"][model] == completion


def _host_imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return [n for n in names if n.split(".")[0] == "newapi_host"]


def test_the_plugin_and_its_tests_import_nothing_of_the_host_but_the_sdk():
    files = sorted(PLUGIN_ROOT.rglob("*.py"))
    assert len(files) > 10
    wrong = {
        f"{path.relative_to(PLUGIN_ROOT)}: {name}"
        for path in files
        for name in _host_imports(path)
        if name != "newapi_host.sdk" and not name.startswith("newapi_host.sdk.")
    }
    assert not wrong, wrong


def test_the_tutorial_quotes_the_code_as_it_is():
    """Every line of the Python and TOML excerpts in docs/plugin-tutorial.md is in the plugin
    (lines with an ellipsis elide, and are skipped)."""
    tutorial = (PLUGIN_ROOT.parent.parent / "docs" / "plugin-tutorial.md").read_text()
    blocks = re.findall(r"```(?:python|toml)\n(.*?)```", tutorial, re.S)
    assert len(blocks) > 8
    source = {line.strip() for path in PLUGIN_ROOT.rglob("*.py") for line in path.read_text().splitlines()}
    source |= {line.strip() for line in (PLUGIN_ROOT / "pyproject.toml").read_text().splitlines()}
    quoted = [line.strip() for block in blocks for line in block.splitlines() if line.strip()]
    missing = [line for line in quoted if "..." not in line and line not in source]
    assert not missing, missing
