"""Cohere for the New API host: channel type 34, Cohere's v2 chat and embed APIs (``plugin.py`` is the entry point)."""
