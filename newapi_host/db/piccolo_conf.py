"""Piccolo configuration module (``PICCOLO_CONF=newapi_host.db.piccolo_conf``).

At import it describes the database named by the environment and the core app plus every
installed plugin's Piccolo apps, which is what Piccolo's own CLI needs (for example to write a
new migration). A running gateway replaces ``DB`` and ``APP_REGISTRY`` through
:func:`newapi_host.db.engine.configure`, so both always describe the live database.
"""

from piccolo.conf.apps import AppRegistry

from newapi_host.config import Config
from newapi_host.db.engine import make_engine

DB = make_engine(Config.from_env())
APP_REGISTRY = AppRegistry(apps=["newapi_host.db.piccolo_app"])
