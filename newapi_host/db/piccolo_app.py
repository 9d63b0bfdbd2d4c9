"""Piccolo app of the host's core tables."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from .tables import CORE_TABLES

APP_CONFIG = AppConfig(
    app_name="newapi",
    migrations_folder_path=str(Path(__file__).parent / "migrations"),
    table_classes=list(CORE_TABLES),
    migration_dependencies=[],
    commands=[],
)
