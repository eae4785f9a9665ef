#!/usr/bin/env bash
# Set everything up (idempotent), then transcribe with the bundled default model.
# With no arguments it synthesizes a sentence with espeak-ng and transcribes that;
# otherwise the arguments are passed to 'asr transcribe' (files, folders, manifests, options).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ $# -eq 0 ]; then
    mkdir -p out
    sentence="the quick brown fox jumps over the lazy dog"
    espeak-ng -v en-us -s 150 -w out/demo.wav "$sentence"
    echo "demo: espeak-ng said: \"$sentence\" -> out/demo.wav"
    set -- out/demo.wav --format jsonl
fi
exec .venv/bin/asr transcribe "$@"
