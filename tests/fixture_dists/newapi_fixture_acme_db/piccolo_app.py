from pathlib import Path

from piccolo.conf.apps import AppConfig

from .tables import AcmeItem

APP_CONFIG = AppConfig(
    app_name="acme",
    migrations_folder_path=str(Path(__file__).parent / "migrations"),
    table_classes=[AcmeItem],
    migration_dependencies=["newapi_host.db.piccolo_app"],
)
