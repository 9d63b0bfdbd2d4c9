"""The plugin's settings (edited on the Plugins page)."""

from __future__ import annotations

from pydantic import BaseModel, Field

PLUGIN = "midjourney"


class MidjourneySettings(BaseModel):
    max_image_mb: float = Field(
        default=10.0, gt=0, le=64, description="Largest base64 image a submit may carry, in MB (decoded)."
    )
