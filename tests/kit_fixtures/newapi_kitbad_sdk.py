"""A plugin written for an SDK this host does not provide, with a set-up function that is not there."""

NEWAPI_SDK = ">=9,<10"
NEWAPI_CONFORMANCE = "newapi_kitbad_sdk:setup_that_does_not_exist"
