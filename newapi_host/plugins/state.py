"""Enabled state and settings of plugins, persisted in ``plugin_states``.

A newly installed plugin is enabled until an admin switches it off. Settings are validated by
the plugin's own pydantic model before they are stored and again when they are loaded (a plugin
upgrade may have changed the model); stored values that no longer validate are reported and
the plugin runs on its defaults until an admin saves valid ones.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from pydantic import BaseModel, SecretBytes, SecretStr, ValidationError

from newapi_host.db.engine import write_transaction
from newapi_host.db.tables import PluginState
from newapi_host.sync import bump

from .registry import Registry

log = logging.getLogger(__name__)

MASK = "**********"


def _secret_fields(model: type[BaseModel]) -> set[str]:
    return {name for name, f in model.model_fields.items() if f.annotation in (SecretStr, SecretBytes)}


def dump_settings(settings: BaseModel) -> dict[str, Any]:
    """Settings as JSON for storage: secrets in clear (the database is trusted)."""
    data = settings.model_dump(mode="json")
    for name in _secret_fields(type(settings)):
        value = getattr(settings, name)
        data[name] = value.get_secret_value() if value is not None else None
        if isinstance(data[name], bytes):
            data[name] = data[name].decode()
    return data


def public_settings(settings: BaseModel) -> dict[str, Any]:
    """Settings as JSON for the API: set secrets shown as a mask, unset ones as empty."""
    data = dump_settings(settings)
    for name in _secret_fields(type(settings)):
        data[name] = MASK if data[name] else ""
    return data


def option_fields(model: type[BaseModel]) -> dict[str, str]:
    """Fields that mirror a gateway option (``Field(json_schema_extra={"option": "PayAddress"})``):
    field name -> option key. The Plugins page shows and edits the option through such a field."""
    found = {}
    for name, f in model.model_fields.items():
        extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
        if isinstance(extra.get("option"), str) and extra["option"]:
            found[name] = extra["option"]
    return found


class SettingsInvalid(Exception):
    """Submitted settings failed validation; ``errors`` maps a field path to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def validation_errors(exc: ValidationError) -> dict[str, str]:
    return {".".join(str(p) for p in err["loc"]) or "__root__": err["msg"] for err in exc.errors()}


class PluginStates:
    """In-memory copy of ``plugin_states`` applied to the registry; reloaded on change."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._settings: dict[str, BaseModel] = {}
        self.settings_errors: dict[str, str] = {}

    async def load(self) -> None:
        rows = {r["name"]: r for r in await PluginState.select()}
        for contributions in self.registry.plugins():
            name = contributions.plugin
            row = rows.get(name)
            self.registry.set_enabled(name, True if row is None else bool(row["enabled"]))
            model = contributions.settings_model
            if model is None:
                continue
            stored = json.loads(row["settings"] or "{}") if row else {}
            try:
                self._settings[name] = model.model_validate(stored)
                self.settings_errors.pop(name, None)
            except ValidationError as exc:
                self._settings[name] = model()
                self.settings_errors[name] = str(SettingsInvalid(validation_errors(exc)))
                log.warning(
                    "stored settings of plugin %s are invalid, using defaults: %s", name, self.settings_errors[name]
                )

    def settings(self, name: str) -> BaseModel | None:
        """The plugin's current validated settings (defaults until an admin saves some)."""
        if name not in self._settings:
            c = self.registry.contributions(name)
            if c is None or c.settings_model is None:
                return None
            self._settings[name] = c.settings_model()
        return self._settings[name]

    async def _save(self, name: str, **values: Any) -> None:
        """Upsert only the given columns, and bump the revision, in one transaction."""
        values["updated_at"] = int(time.time())
        columns = [getattr(PluginState, k) for k in values]
        async with write_transaction():
            await PluginState.insert(PluginState(name=name, **values)).on_conflict(
                target=PluginState.name, action="DO UPDATE", values=columns
            )
            await bump("plugins")

    async def set_enabled(self, name: str, enabled: bool) -> None:
        await self._save(name, enabled=enabled)
        self.registry.set_enabled(name, enabled)

    async def set_settings(self, name: str, submitted: dict[str, Any]) -> BaseModel:
        """Validate and store settings. Masked secrets keep their stored value."""
        c = self.registry.contributions(name)
        if c is None or c.settings_model is None:
            raise SettingsInvalid({"__root__": "this plugin has no settings"})
        current = self.settings(name)
        merged = dict(submitted)
        for field in _secret_fields(c.settings_model):
            if merged.get(field) == MASK and current is not None:
                merged[field] = dump_settings(current)[field]
        try:
            settings = c.settings_model.model_validate(merged)
        except ValidationError as exc:
            raise SettingsInvalid(validation_errors(exc)) from None
        await self._save(name, settings=json.dumps(dump_settings(settings)))
        self._settings[name] = settings
        self.settings_errors.pop(name, None)
        return settings
