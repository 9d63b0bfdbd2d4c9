"""Piccolo configuration module (``PICCOLO_CONF=newapi_host.db.piccolo_conf``).

A running gateway sets ``DB`` and ``APP_REGISTRY`` through
:func:`newapi_host.db.engine.configure`. When Piccolo's own CLI imports this module instead (to
write a new migration, say), both are built on first access from the environment: the database
it names and the core app plus every installed plugin's Piccolo apps.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    from piccolo.conf.apps import AppRegistry

    from newapi_host.config import Config
    from newapi_host.db.engine import CORE_APP, make_engine

    config = Config.from_env()
    if name == "DB":
        globals()["DB"] = make_engine(config)
    elif name == "APP_REGISTRY":
        from newapi_host.plugins.loading import build_plugin_host

        apps = build_plugin_host(config).piccolo_apps()
        globals()["APP_REGISTRY"] = AppRegistry(apps=[CORE_APP, *apps])
    else:
        raise AttributeError(name)
    return globals()[name]
