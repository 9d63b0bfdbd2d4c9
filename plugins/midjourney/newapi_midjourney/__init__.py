"""Midjourney-Proxy(-Plus) channels and New API's ``/mj`` routes, built on the host's task SDK."""
