"""A plugin whose module does not import."""

import newapi_kitbad_no_such_module  # noqa: F401
