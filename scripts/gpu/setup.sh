#!/usr/bin/env bash
# There, as root: install the kit's synthesizers and wheels (into /tmp/site). Idempotent.
#   bash .devpack/setup.sh && export PYTHONPATH=/tmp/site:$PWD
set -euo pipefail
kit=$(cd "$(dirname "$0")" && pwd)
if ! command -v espeak-ng >/dev/null; then
    mkdir -p /opt/synth-tools && tar -xJf "$kit/tools.tar.xz" -C /opt/synth-tools && /opt/synth-tools/install.sh
fi
if [ ! -f /tmp/site/docopt.py ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$kit"/whl/*.whl
    cp "$kit/whl/docopt.py" /tmp/site/
fi
