#!/bin/sh
# The image's build step, also runnable without Docker (tests/test_deployment.py runs it):
#   deploy/build.sh TARGET   installs the gateway, its plugins and their locked dependencies,
# without the test tools, into TARGET/.venv, from the source tree this script sits in (with the
# otel extra, so tracing needs only its OTEL_* variables).
# Needs uv (the Dockerfile installs it; dev.py puts one in .tools/bin) and the Python that will
# run the gateway (the venv links to it, so the runtime image must have the same path).
set -eu
target="${1:?usage: deploy/build.sh TARGET}"
source_dir="$(cd "$(dirname "$0")/.." && pwd)"
uv="${UV:-uv}"
python="${PYTHON:-$(command -v python3)}"
cd "$source_dir"
UV_PROJECT_ENVIRONMENT="$target/.venv" UV_PYTHON_DOWNLOADS=never "$uv" sync \
    --locked --no-dev --extra otel --all-packages --no-editable --compile-bytecode --python "$python" --quiet
# Nothing of the source tree is needed at run time: the packages are installed, not linked.
"$target/.venv/bin/python" -c "import newapi_host, newapi_openai; print('built newapi', newapi_host.__version__)"
