"""The host's conformance suite (`newapi plugin check cohere`), one test per check: Cohere's own
format is described to the kit by ``newapi_cohere.conformance``."""

from newapi_host.sdk.testing import conformance_tests

test_conformance = conformance_tests("cohere")
