"""The relay: client-facing LLM endpoints, upstream calls, streaming, settlement."""
