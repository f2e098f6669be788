#!/usr/bin/env bash
# Module init (cold start) time of Lambda bundles in plain Node: the wall and CPU
# milliseconds of `await import(index.mjs)`, median of N runs, the bundles
# interleaved so that a shared machine's load falls on all of them alike.
#
#   npm run synth -- -o /tmp/synth-out
#   bash bin/init-time.sh /tmp/synth-out/asset.<hash>/index.mjs [other/index.mjs ...]
#
# The API bundle is the one with uPlot.iife.min.js beside it. N=21 by default.
set -euo pipefail
N=${N:-21}
probe=$(mktemp --suffix=.mjs)
trap 'rm -f "$probe"' EXIT
cat > "$probe" <<'JS'
const t = performance.now();
const c = process.cpuUsage();
await import(process.argv[2]);
const u = process.cpuUsage(c);
console.log(`${(performance.now() - t).toFixed(1)} ${((u.user + u.system) / 1000).toFixed(1)}`);
JS
declare -A walls cpus
for _ in $(seq 1 "$N"); do
  for b in "$@"; do
    read -r w c < <(env -i PATH="$PATH" TABLE_NAME=t FILES_BUCKET=b CHECKS_QUEUE_URL=q WEBHOOK_DELIVERY_QUEUE_URL=q \
      REDACTION_QUEUE_URL=q EVENT_BUS_NAME=bus AWS_REGION=eu-west-1 AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true \
      node "$probe" "$(realpath "$b")")
    walls[$b]+="$w "; cpus[$b]+="$c "
  done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for b in "$@"; do
  echo "$b  $(stat -c %s "$b") bytes  init wall median $(echo "${walls[$b]}" | median) ms  cpu median $(echo "${cpus[$b]}" | median) ms"
done
