"""The host's conformance suite (`newapi plugin check suno`), one test per check."""

from newapi_host.sdk.testing import conformance_tests

test_conformance = conformance_tests("suno")
