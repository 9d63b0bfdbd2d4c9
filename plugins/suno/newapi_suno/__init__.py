"""Suno channels and New API's ``/suno`` routes, built on the host's task SDK."""
