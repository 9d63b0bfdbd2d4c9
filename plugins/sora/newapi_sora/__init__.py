"""OpenAI's video API (Sora, channel type 55) through the host's task SDK."""
