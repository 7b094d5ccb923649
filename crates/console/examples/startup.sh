#!/usr/bin/env bash
# Start to first screen of `rapport console` on a database: launch it in a fresh 120x40 tmux
# pane and poll the pane every 2 ms. Reports the time to the first frame (the header, shown
# while the database opens) and to the search screen (database open, console ready).
# The baseline at the end is tmux itself showing a line.
#   crates/console/examples/startup.sh target/release/rapport DB
set -euo pipefail
bin=$1
db=$2
runs=${RUNS:-7}
base=startup-$$
for i in $(seq 1 "$runs"); do
  sock=$base-$i
  t0=$(date +%s%N)
  tmux -L "$sock" new -d -s s -x 120 -y 40 "$bin --db $db console; sleep 5"
  first=""
  while true; do
    screen=$(tmux -L "$sock" capture-pane -p -t s 2>/dev/null || true)
    now=$(date +%s%N)
    if [[ -z "$first" && "$screen" == *Rapport* ]]; then first=$now; fi
    if [[ "$screen" == *Search:* ]]; then break; fi
    sleep 0.002
  done
  echo "run $i: first frame $(( (first - t0) / 1000000 )) ms, search screen $(( (now - t0) / 1000000 )) ms"
  tmux -L "$sock" send-keys -t s C-c
  sleep 0.3
  tmux -L "$sock" kill-server 2>/dev/null || true
done
sock=$base-base
t0=$(date +%s%N)
tmux -L "$sock" new -d -s s -x 120 -y 40 "echo Search: ready; sleep 5"
while ! tmux -L "$sock" capture-pane -p -t s 2>/dev/null | grep -q "Search:"; do sleep 0.002; done
t1=$(date +%s%N)
echo "baseline (tmux + echo): $(( (t1 - t0) / 1000000 )) ms"
tmux -L "$sock" kill-server 2>/dev/null || true
