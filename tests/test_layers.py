"""The host's layers, read from the source with ``ast``: which part of ``newapi_host`` may import which.

Every import counts: at module level, inside functions (the lazy ones) and under ``TYPE_CHECKING``.
A row of :data:`LAYERS` names a package or module under ``newapi_host`` and what it may import
besides itself; a grant such as ``relay.errors`` allows that one module, ``relay`` all of it.
The most specific row wins (``db.piccolo_conf`` over ``db``). The root package, which holds only
``__version__``, may be imported from anywhere.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

HOST = Path(__file__).resolve().parent.parent / "newapi_host"

# Row: a package or module under newapi_host. Value: what it may import besides itself, lowest first.
LAYERS: dict[str, str] = {
    # Leaves: nothing of the host.
    "config": "",
    "store": "",
    "tokenizer": "",
    "status_ranges": "",
    "body_depth": "",
    "proxy_headers": "",
    "notify": "",
    "server_log": "",  # the log format and the request id context variable
    # Tables and engine, and the revision counters that keep caches in step with them.
    "db": "config",
    "db.piccolo_conf": "config plugins.loading",  # Piccolo's CLI entry point: plugins own tables too
    "sync": "db",
    # The plugin machinery (state.py keeps switches and settings in the database).
    "plugins": "config db sync",
    "auth": "db",
    "options": "db sync status_ranges relay.fetch_guard",  # fetch_setting.*: defaults and checks live with the guard
    "jobs": "db plugins",
    # An unpriced model is a client error (relay.errors); a credit bumps the "users" revision (sync).
    "billing": "db store sync options plugins.contracts plugins.registry relay.errors",
    "relay": "db store sync options status_ranges tokenizer body_depth plugins.contracts plugins.registry billing "
    "server_log",
    "tasks": "db store billing relay",  # async tasks' hold, settlement and refund
    "builtin": "db auth plugins",  # the host's own plugins (password login)
    "host": "config sync auth options plugins jobs",
    # What the sign-in routes and the console's sign-in pages share (method switches, bind tickets).
    "sign_in": "host plugins",
    # Per-address rate limits: a middleware of the app, and the critical count the sign-in routes share.
    "ip_limits": "config store host",
    # The surfaces: management API and console.
    "api": "db store sync auth options status_ranges plugins billing relay host ip_limits sign_in",
    "web": "db options host sign_in",
    # The plugin SDK: the one door plugins use; it reaches what its services need, nothing above.
    # session_user: console media; auth.guards: payment routes are for signed-in users
    "sdk": "db store plugins tokenizer billing relay tasks auth.users auth.guards",
    # The plugin test kit builds a whole gateway (the app) for a plugin's own tests.
    "sdk.testing": "config db plugins app",
    # Entry points: the only importers of the surfaces; only the CLI imports the app.
    "app": "config db store sync notify auth options plugins jobs billing relay tokenizer body_depth proxy_headers "
    "host ip_limits api web server_log",
    "cli": "config db store auth plugins billing api app sdk.testing sdk.skeleton server_log",
}
GRANTS = {row: set(allowed.split()) for row, allowed in LAYERS.items()}

# Import cycles left on purpose (see the module docstring for what counts as an import).
KNOWN_CYCLES = {
    # Piccolo reads DB and APP_REGISTRY from the conf module; engine.configure() sets them, and
    # the conf module builds them from the environment for Piccolo's own CLI. Both imports are lazy.
    frozenset({"db.engine", "db.piccolo_conf"}),
    # Type annotations only: the ledger names the Journal each charge is appended to first.
    frozenset({"billing.journal", "billing.ledger"}),
    # Type annotations only: the channel probe builds its request with the relay's own machinery.
    frozenset({"relay.health", "relay.pipeline"}),
    # Type annotations only: the fetch guard reads its settings from Options.
    frozenset({"options", "relay.fetch_guard"}),
}


@dataclass(frozen=True)
class Import:
    module: str  # the importer, relative to newapi_host: "db.piccolo_conf"
    where: str  # "newapi_host/db/piccolo_conf.py:22"
    target: str  # what it imports, absolute: "newapi_host.app", "newapi_openai.adapter.api_root"


def host_modules() -> dict[str, Path]:
    """Every module of the host by relative dotted name; the root package is ""."""
    modules = {}
    for path in sorted(HOST.rglob("*.py")):
        parts = path.relative_to(HOST).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


MODULES = host_modules()


def imports_of(module: str, path: Path) -> list[Import]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ["newapi_host", *package.split(".")] if package else ["newapi_host"]
                base = base[: len(base) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            targets = [f"{source}.{alias.name}" for alias in node.names]
        else:
            continue
        where = f"{path.relative_to(HOST.parent)}:{node.lineno}"
        found.extend(Import(module, where, target) for target in targets)
    return found


def all_imports() -> list[Import]:
    return [imp for module, path in MODULES.items() for imp in imports_of(module, path)]


def host_target(target: str) -> str | None:
    """The host module an absolute import name lands in (longest module prefix), or None if not the host's."""
    if target != "newapi_host" and not target.startswith("newapi_host."):
        return None
    name = target.removeprefix("newapi_host").removeprefix(".")
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def within(name: str, grant: str) -> bool:
    return name == grant or name.startswith(grant + ".")


def row_of(module: str) -> str | None:
    """The most specific row of LAYERS covering ``module``: "db.engine" -> "db"."""
    rows = [row for row in LAYERS if within(module, row)]
    return max(rows, key=len) if rows else None


def problem(imp: Import) -> str | None:
    """Why ``imp`` breaks the layer table, or None if it is allowed."""
    target = host_target(imp.target)
    if target is None or target == "" or within(target, imp.module.split(".")[0]):
        return None
    row = row_of(imp.module)
    if row is None:
        return f"{imp.where}: newapi_host.{imp.module} has no row in LAYERS"
    if any(within(target, grant) for grant in GRANTS[row]):
        return None
    may = ", ".join(LAYERS[row].split()) or "nothing of the host"
    return f"{imp.where} imports newapi_host.{target}; row {row!r} allows only {may} (and itself)"


def test_every_module_has_a_row():
    missing = sorted(m for m in MODULES if m and row_of(m) is None)
    assert not missing, "no row in LAYERS for: " + ", ".join(f"newapi_host.{m}" for m in missing)


def test_imports_follow_the_layer_table():
    problems = sorted(filter(None, map(problem, all_imports())))
    assert not problems, "imports across layers that LAYERS does not allow:\n" + "\n".join(problems)


def test_only_the_entry_points_import_the_surfaces_and_only_the_cli_imports_the_app():
    for row, grants in GRANTS.items():
        reaching = {g for g in grants if within(g, "api") or within(g, "web") or within(g, "app")}
        allowed = {"api", "web"} if row == "app" else {"api", "web", "app"} if row == "cli" else set()
        if row == "sdk.testing":  # the plugin test kit runs a whole gateway for a plugin's tests
            allowed = {"app"}
        assert reaching <= allowed, f"row {row!r} grants {sorted(reaching)}"


def test_the_scan_sees_lazy_relative_and_type_only_imports():
    found = {(i.module, host_target(i.target)) for i in all_imports()}
    assert ("db.piccolo_conf", "plugins.loading") in found  # inside a function
    assert ("relay.pipeline", "relay.request_id") in found  # from .request_id import ...
    assert ("relay.fetch_guard", "options") in found  # under TYPE_CHECKING


def test_a_forbidden_import_is_named_with_its_line_and_the_row_it_breaks():
    bad = Import("db.piccolo_conf", "newapi_host/db/piccolo_conf.py:1", "newapi_host.app.load_plugins")
    assert problem(bad) == (
        "newapi_host/db/piccolo_conf.py:1 imports newapi_host.app; "
        "row 'db.piccolo_conf' allows only config, plugins.loading (and itself)"
    )


def import_cycles() -> list[set[str]]:
    """Groups of host modules that import each other, directly or through others."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in all_imports():
        target = host_target(imp.target)
        if target and target != imp.module:
            graph[imp.module].add(target)

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph[todo.pop()] - seen:
                seen.add(nxt)
                todo.append(nxt)
        return seen

    reachable = {m: reach(m) for m in graph}
    cycles = {frozenset(n for n in reachable[m] if m in reachable[n]) for m in graph if m in reachable[m]}
    return sorted((set(c) for c in cycles), key=sorted)


def test_no_import_cycles_but_the_known_ones():
    unknown = [sorted(c) for c in import_cycles() if frozenset(c) not in KNOWN_CYCLES]
    assert not unknown, "import cycles, one group of modules per line:\n" + "\n".join(", ".join(c) for c in unknown)


def test_known_cycles_are_still_cycles():
    cycles = import_cycles()
    gone = [sorted(known) for known in KNOWN_CYCLES if not any(known <= c for c in cycles)]
    assert not gone, f"no longer cycles, take them out of KNOWN_CYCLES: {gone}"


def test_the_host_imports_no_plugin_package():
    """Balances, model lists and probes are adapter capabilities; the host names no plugin."""
    plugin_imports = [
        f"{i.where} imports {i.target}"
        for i in all_imports()
        if i.target.startswith("newapi_") and i.target.split(".")[0] != "newapi_host"
    ]
    assert not plugin_imports, "the host imports plugin packages:\n" + "\n".join(plugin_imports)
