#!/usr/bin/env bash
# diversenet against itself over thread counts (issue 11, goal 2: more threads are never
# slower than fewer), rounds of alternating runs on one machine:
#
#     bash bench/thread_sweep.sh [THREAD_COUNTS] [ROUNDS] [MNIST_DIR] > threads.txt
#
# THREAD_COUNTS defaults to "1 2" (the development machine's two cores; "1 2 4 8 16" on a
# 16-core one), ROUNDS to 3, MNIST_DIR to $DIVERSENET_MNIST_DIR. Each round runs, for every
# count in turn: `bench train --widths 8,16,24,32,100,1000` (samples/s and the unit blocks
# chosen), `bench theory --points 500,2000` (seconds) and 5 epochs of MNIST at width 100
# (wall time, loading included); then `bench/thread_sweep_summary.py` prints the medians and
# the speed-ups over the smallest count. It builds nothing: run `cargo build --release` first (or
# set DIVERSENET_BIN). bench/side_by_side.sh says how to run both on a lent machine.
set -euo pipefail
cd "$(dirname "$0")/.."
counts=${1:-1 2}
rounds=${2:-3}
mnist=${3:-${DIVERSENET_MNIST_DIR:?give MNIST_DIR or set DIVERSENET_MNIST_DIR (diversenet fetch mnist --dir DIR downloads it)}}
bin=${DIVERSENET_BIN:-target/release/diversenet}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
log=$out/log
sweep() {
    echo "# $(date -u +%FT%TZ), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); thread counts: $counts; $rounds rounds"
    for round in $(seq "$rounds"); do
        for t in $counts; do
            echo "## round $round, $t threads"
            "$bin" --threads "$t" bench train --widths 8,16,24,32,100,1000 2>&1 |
                grep -o 'train step 784 -> [0-9]* .*samples/s (' | sed 's/ ($//'
            "$bin" --threads "$t" bench theory --points 500,2000 --repeats 3 --full-up-to 0 2>&1 |
                grep -o 's_m(D), m = [0-9]*,.*smallest eigenvalue [0-9.]* s'
            /usr/bin/time -f "train --data mnist --width 100 --epochs 5: wall %e s" \
                "$bin" --threads "$t" train --data mnist --data-dir "$mnist" --width 100 \
                --epochs 5 --out "$out/run-$round-$t" --quiet 2>&1 | tail -n 1
        done
    done
}
sweep | tee "$log"
echo "## summary"
python3 bench/thread_sweep_summary.py "$log"
