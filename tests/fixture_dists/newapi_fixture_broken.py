"""Fails at import time, like a plugin whose dependency is missing."""

import a_module_that_does_not_exist  # noqa: F401
