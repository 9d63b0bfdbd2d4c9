"""The host's conformance suite (`newapi plugin check epay|stripe|creem`), one test per check and
method: ``newapi_payments.conformance`` points each method at the kit's mock upstream."""

from newapi_host.sdk.testing import conformance_tests

test_epay_conformance = conformance_tests("epay")
test_stripe_conformance = conformance_tests("stripe")
test_creem_conformance = conformance_tests("creem")
