"""gemini plugin."""
