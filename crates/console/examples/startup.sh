#!/usr/bin/env bash
# Start to first screen: launch the console in a fresh tmux pane and poll the pane every 2 ms
# until the first frame (the search screen) shows. Includes tmux's own start (measured alone
# below as the baseline with `true`-like echo).
set -euo pipefail
bin=$1; shift
db=$1; shift
runs=${RUNS:-7}
base=startup-$$
for i in $(seq 1 $runs); do
  sock=$base-$i
  t0=$(date +%s%N)
  tmux -L $sock new -d -s s -x 120 -y 40 "$bin --db $db console $*; sleep 5"
  while ! tmux -L $sock capture-pane -p -t s 2>/dev/null | grep -q "Search:"; do sleep 0.002; done
  t1=$(date +%s%N)
  echo "run $i: $(( (t1 - t0) / 1000000 )) ms"
  tmux -L $sock send-keys -t s C-c
  sleep 0.3
  tmux -L $sock kill-server 2>/dev/null || true
done
sock=$base-base
t0=$(date +%s%N)
tmux -L $sock new -d -s s -x 120 -y 40 "echo Search: ready; sleep 5"
while ! tmux -L $sock capture-pane -p -t s 2>/dev/null | grep -q "Search:"; do sleep 0.002; done
t1=$(date +%s%N)
echo "baseline (tmux + echo): $(( (t1 - t0) / 1000000 )) ms"
tmux -L $sock kill-server 2>/dev/null || true
