"""The plugin SDK is the only door: shipped plugins use nothing else of the host, and every hook
and every SDK name is documented in docs/plugins.md (as datasette checks its hooks)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from newapi_host import sdk
from newapi_host.plugins import hookspecs

ROOT = Path(__file__).resolve().parents[1]
GUIDE = (ROOT / "docs" / "plugins.md").read_text()


def plugin_modules() -> list[Path]:
    return sorted(p for p in (ROOT / "plugins").glob("*/newapi_*/**/*.py"))


def host_imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            module = node.module or ""
            names = [module] if module != "newapi_host" else [f"newapi_host.{a.name}" for a in node.names]
        else:
            continue
        found.extend((node.lineno, n) for n in names if n == "newapi_host" or n.startswith("newapi_host."))
    return found


def test_shipped_plugins_import_only_the_sdk():
    assert len(plugin_modules()) > 20
    outside = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in plugin_modules()
        for line, name in host_imports(path)
        if name != "newapi_host.sdk" and not name.startswith("newapi_host.sdk.")
    ]
    assert not outside, "plugins must import the host only through newapi_host.sdk:\n" + "\n".join(outside)


def test_every_hook_has_a_section_in_the_guide():
    hooks = sorted(name for name in dir(hookspecs) if name.startswith("newapi_"))
    assert len(hooks) == 7
    missing = [h for h in hooks if not re.search(rf"^### `{h}\(", GUIDE, re.M)]
    assert not missing, f"docs/plugins.md has no '### `hook(...)`' section for: {missing}"


def test_every_sdk_name_is_documented_in_the_guide():
    missing = [name for name in sdk.__all__ if not re.search(rf"`(sdk\.)?{name}\b", GUIDE)]
    assert not missing, f"docs/plugins.md never mentions these names of newapi_host.sdk: {missing}"


def test_token_counts_read_from_usage():
    assert [sdk.token_count(v) for v in (12, 12.0, 0, -1, 2.5, True, "3", None)] == [12, 12, 0, 0, 0, 0, 0, 0]
