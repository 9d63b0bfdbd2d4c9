"""``newapi plugin new``: a working plugin distribution to start from.

The templates live beside this module (``provider/``, ``payment/``, ``login/``), one tree per kind,
with ``{{placeholders}}`` filled in from the plugin's name; ``package/`` becomes the import package
and ``tests/test_plugin.py`` is named after the plugin. Each skeleton's tests use the kit and
pass as generated.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from pathlib import Path

from newapi_host.plugins.compat import SDK_VERSION

KINDS = ("provider", "payment", "login")
TEMPLATES = Path(__file__).parent
NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")


class SkeletonError(ValueError):
    """The name or the target directory will not do; the message says why."""


@dataclass(frozen=True)
class Names:
    """Every spelling of a plugin's name the templates need."""

    name: str  # the plugin (entry point) name: "my-cloud"
    slug: str  # for model names and URLs: "my-cloud"
    module: str  # the import package: "newapi_my_cloud"
    dist: str  # the distribution: "newapi-plugin-my-cloud"
    title: str  # for people: "My Cloud"
    camel: str  # for classes: "MyCloud"

    @classmethod
    def of(cls, name: str) -> Names:
        if not NAME.fullmatch(name):
            raise SkeletonError(
                f"{name!r} will not do as a plugin name: use lower-case letters, digits, '-' and '_', "
                "starting with a letter (at most 40)"
            )
        words = [w for w in re.split(r"[-_]", name) if w]
        return cls(
            name=name,
            slug=name.replace("_", "-"),
            module="newapi_" + name.replace("-", "_"),
            dist="newapi-plugin-" + name.replace("_", "-"),
            title=" ".join(w.capitalize() for w in words),
            camel="".join(w.capitalize() for w in words),
        )


def type_id_for(name: str) -> int:
    """A channel type id for a new provider, above New API's range and stable for a name."""
    return 20_000 + zlib.crc32(name.encode()) % 1_000_000


def sdk_range() -> str:
    major = int(SDK_VERSION.split(".")[0])
    return f">={major}.{SDK_VERSION.split('.')[1]},<{major + 1}"


def _fill(text: str, names: Names) -> str:
    values = {
        "name": names.name,
        "slug": names.slug,
        "module": names.module,
        "dist": names.dist,
        "title": names.title,
        "Camel": names.camel,
        "type_id": str(type_id_for(names.name)),
        "sdk_range": sdk_range(),
    }
    filled = re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], text)
    assert "{{" not in filled, "a template names a placeholder that does not exist"
    return filled


def _target(relative: Path, names: Names) -> Path:
    parts = [names.module if part == "package" else part for part in relative.with_suffix("").parts]
    if parts[-1] == "test_plugin.py":
        parts[-1] = f"test_{names.module.removeprefix('newapi_')}.py"
    return Path(*parts)


def write_skeleton(name: str, kind: str = "provider", directory: Path | None = None) -> tuple[Path, list[Path]]:
    """Write the ``kind`` skeleton of plugin ``name`` into ``directory`` (default: ``./<dist>``).

    Returns the directory and the files written. Refuses a directory that exists and is not empty.
    """
    if kind not in KINDS:
        raise SkeletonError(f"unknown kind {kind!r}: choose one of {', '.join(KINDS)}")
    names = Names.of(name)
    root = Path(directory) if directory is not None else Path.cwd() / names.dist
    if root.exists() and any(root.iterdir()):
        raise SkeletonError(f"{root} exists and is not empty; choose another --dir")
    written = []
    source = TEMPLATES / kind
    for template in sorted(source.rglob("*.tmpl")):
        target = root / _target(template.relative_to(source), names)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_fill(template.read_text(), names))
        written.append(target)
    return root, written
