#!/usr/bin/env bash
# Here, before a GPU box without network or Debian packages: fill a git-ignored kit folder with
# the synthesizers (scripts/pack_synth_tools.sh) and the Python wheels the box lacks, for
# CPython 3.12 on x86-64. The box's own torch and torchaudio are used as they are.
#
#   bash scripts/gpu/prepare.sh .devpack        # then carry .devpack and this checkout there
set -euo pipefail
kit=$(realpath -m "${1:?usage: prepare.sh KIT_DIR}")
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$kit/whl"
[ -f "$kit/tools.tar.xz" ] || bash "$root/scripts/pack_synth_tools.sh" "$kit/tools.tar.xz"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$kit/whl" \
    soundfile==0.14.0 cffi==2.1.1 pycparser==3.12 jiwer==4.0.0 rapidfuzz==3.14.6 num2words==0.5.14
# docopt (num2words needs it) is published as an sdist only: its single module travels as is
cp "$root/.venv/lib/python3.11/site-packages/docopt.py" "$kit/whl/"
cp "$root"/scripts/gpu/*.sh "$root"/scripts/gpu/*.py "$kit/"
echo "kit ready: $(du -sh "$kit" | cut -f1) in $kit"
