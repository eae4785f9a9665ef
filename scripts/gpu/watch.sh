#!/usr/bin/env bash
# There: follow the detached run for at most $1 seconds (or to its end), then copy model.pt,
# log.csv and the console output to $OUT. Chain calls of this until it prints DONE.
seconds=${1:-570}
begin=$(date +%s)
while [ ! -e /data/train.done ] && [ $(( $(date +%s) - begin )) -lt "$seconds" ]; do sleep 5; done
tr '\r' '\n' < /data/train.out | grep -v "^training:" | tail -15
tail -3 /data/runs/gpu/log.csv 2>/dev/null
cp /data/runs/gpu/model.pt /data/runs/gpu/log.csv /data/train.out "${OUT:-/tmp}/" 2>/dev/null || true
if [ -e /data/train.done ]; then echo DONE; else echo "still training at +$(( $(date +%s) - $(cat /data/started) )) s"; fi
