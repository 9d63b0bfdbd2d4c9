"""What the Prometheus series cost a relay request: the calls the pipeline makes per request.

Run: ``.venv/bin/python benchmarks/metrics_cost.py`` (both modes: in-process values and the
multiprocess files ``newapi serve`` uses). One relay request makes one ``request()`` call and,
when charged, one ``charged()`` call; an upstream error adds one ``upstream_error()``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import timeit

CODE = """
import timeit
from newapi_host.relay.metrics import Metrics
m = Metrics()
n = 200_000
for name, call in (
    ("request()", lambda: m.request("openai.chat", "gpt-4o-mini", 200, 0.0123)),
    ("charged()", lambda: m.charged("gpt-4o-mini", 11, 7, 5000)),
    ("upstream_error()", lambda: m.upstream_error(12, 500)),
):
    call()  # the label child is created once, outside the timing
    best = min(timeit.repeat(call, number=n, repeat=3)) / n * 1e6
    print(f"  {name:18} {best:5.2f} us")
"""


def main() -> None:
    print("in-process values:")
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    subprocess.run([sys.executable, "-c", CODE], env=env, check=True)
    with tempfile.TemporaryDirectory() as folder:
        print("multiprocess files (newapi serve):")
        subprocess.run([sys.executable, "-c", CODE], env={**env, "PROMETHEUS_MULTIPROC_DIR": folder}, check=True)
    check = timeit.timeit("None is not None", number=1_000_000) / 1_000_000 * 1e9
    print(f"metrics off: one `METRICS is not None` test per call site, {check:.0f} ns")


if __name__ == "__main__":
    main()
