#!/usr/bin/env bash
# There, in one call: set up, synthesize the corpus, size the epochs to the time left, launch
# training detached (it outlives this call), then follow it like watch.sh.
#
#   END_AT=1400 bash .devpack/start.sh CONFIG [asr synth options...]
#
# END_AT is when training must be done, in seconds from this script's start (the box's lease
# ends then). The run's files go to /data/runs/gpu; $OUT gets the log and model.pt.
set -euo pipefail
started=$(date +%s)
kit=$(cd "$(dirname "$0")" && pwd)
config=${1:?usage: start.sh CONFIG [asr synth options...]}; shift
bash "$kit/setup.sh"
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || echo "no GPU seen: training runs on the CPU"
mkdir -p /data
python3 -m asr.cli synth /data/corpus "$@" 2>&1 | tr '\r' '\n' | grep -v "utt/s\]$" | tail -3
cat /data/corpus/corpus.json
sed -e 's#^train_manifest = .*#train_manifest = "/data/corpus/train.jsonl"#' \
    -e 's#^dev_manifest = .*#dev_manifest = "/data/corpus/dev.jsonl"#' \
    -e 's#^output_dir = .*#output_dir = "/data/runs/gpu"#' "$config" > /data/train.toml
left=$(( started + ${END_AT:-1400} - $(date +%s) ))
epochs=$(python3 "$kit/fit_epochs.py" /data/train.toml "$left")
sed -i "s/^epochs = .*/epochs = $epochs/" /data/train.toml
cp /data/train.toml "${OUT:-/tmp}/"
echo "launching $epochs epochs at +$(( $(date +%s) - started )) s"
echo "$started" > /data/started
setsid nohup bash -c "python3 -m asr.cli train --config /data/train.toml > /data/train.out 2>&1; touch /data/train.done" >/dev/null 2>&1 &
bash "$kit/watch.sh" $(( 570 - ($(date +%s) - started) ))
