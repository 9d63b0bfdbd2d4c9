"""Enabled state and settings of plugins, persisted in ``plugin_states``.

A newly installed plugin is enabled until an admin switches it off. Settings are validated by
the plugin's own pydantic model before they are stored and again when they are loaded (a plugin
upgrade may have changed the model); stored values that no longer validate are reported and
the plugin runs on its defaults until an admin saves valid ones.

A settings field may live in New API's ``options`` table instead, so that an imported New API
configuration (``GitHubClientId``, ``oidc.well_known`` ...) keeps working and ``PUT /api/option/``
and the Plugins page edit one value: declare it with ``Field(..., json_schema_extra={"option":
"GitHubClientId"})``. Such a field is read from the options on every :meth:`PluginStates.settings`
call (cached per options revision) and written there by :meth:`PluginStates.set_settings`.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Protocol

from pydantic import BaseModel, SecretBytes, SecretStr, ValidationError

from newapi_host.db.engine import write_transaction
from newapi_host.db.tables import PluginState
from newapi_host.sync import bump

from .registry import Registry

log = logging.getLogger(__name__)

MASK = "**********"


class OptionSource(Protocol):
    """What option-backed settings need of the host's options (``newapi_host.options.Options``)."""

    def get(self, key: str, default: str = "") -> str: ...

    async def set_many(self, values: dict[str, str]) -> None: ...


def option_fields(model: type[BaseModel]) -> dict[str, str]:
    """Fields of ``model`` kept in New API's options table: field name -> option key."""
    found = {}
    for name, f in model.model_fields.items():
        extra = f.json_schema_extra
        if isinstance(extra, dict) and isinstance(extra.get("option"), str):
            found[name] = str(extra["option"])
    return found


def _option_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


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
        self.options: OptionSource | None = None  # set by the app: option-backed fields read it
        self._with_options: dict[str, tuple[tuple[str, ...], BaseModel]] = {}

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
        """The plugin's current validated settings (defaults until an admin saves some), with
        option-backed fields read from the options (a value that does not validate is ignored)."""
        if name not in self._settings:
            c = self.registry.contributions(name)
            if c is None or c.settings_model is None:
                return None
            self._settings[name] = c.settings_model()
        stored = self._settings[name]
        fields = option_fields(type(stored))
        if not fields or self.options is None:
            return stored
        values = tuple(self.options.get(key, "\0") for key in fields.values())
        cached = self._with_options.get(name)
        if cached is not None and cached[0] == values and cached[1] is not None:
            return cached[1]
        merged = dump_settings(stored)
        model = type(stored)
        for (field, key), value in zip(fields.items(), values, strict=True):
            if value == "\0":  # never set: the stored value (the model's default) stands
                continue
            try:
                merged[field] = getattr(model.model_validate({**merged, field: value}), field)
            except ValidationError:
                log.warning("option %s does not fit setting %s of plugin %s; ignored", key, field, name)
        settings = model.model_validate(merged)
        self._with_options[name] = (values, settings)
        return settings

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
        if current is not None:  # an option-backed field left out keeps its option's value
            for field in option_fields(c.settings_model):
                merged.setdefault(field, dump_settings(current)[field])
        for field in _secret_fields(c.settings_model):
            if merged.get(field) == MASK and current is not None:
                merged[field] = dump_settings(current)[field]
        try:
            settings = c.settings_model.model_validate(merged)
        except ValidationError as exc:
            raise SettingsInvalid(validation_errors(exc)) from None
        data = dump_settings(settings)
        fields = option_fields(c.settings_model)
        if fields and self.options is not None:
            await self.options.set_many({key: _option_text(data[field]) for field, key in fields.items()})
        await self._save(name, settings=json.dumps(data))
        self._settings[name] = settings
        self._with_options.pop(name, None)
        self.settings_errors.pop(name, None)
        return self.settings(name) or settings
