"""The host's conformance suite (`newapi plugin check midjourney`), one test per check."""

from newapi_host.sdk.testing import conformance_tests

test_conformance = conformance_tests("midjourney")
