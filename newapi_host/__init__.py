"""New API host: the minimal core of the gateway; providers, payments and logins are plugins."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("newapi-host")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
