#!/usr/bin/env bash
# Every speed figure of bench/README.md, diversenet beside numpy (and PyTorch
# where it is installed), in one run on one machine:
#
#     bash bench/side_by_side.sh [THREADS] [MNIST_DIR] > bench.txt
#
# THREADS defaults to 2, MNIST_DIR to ../shared/data/mnist. It builds nothing: run
# `cargo build --release` first (or set DIVERSENET_BIN). Every line it prints names the
# command that gave it. Run it on an otherwise idle machine. The PyTorch lines need a
# `python3` that imports torch, e.g. from a virtual environment put first on PATH:
#
#     python3 -m venv --system-site-packages /tmp/torchenv && /tmp/torchenv/bin/pip install torch
#     PATH=/tmp/torchenv/bin:$PATH bash bench/side_by_side.sh 2
#
# On a lent 16-core machine (goal 2 of issue 11), which receives the repository but not
# ../shared: copy ../shared/anchors and ../shared/data/mnist into a git-ignored folder of the
# repository (say devcarry/, listed in .git/info/exclude), carry it with the release binary
# (`cargo build --release`: 12 MB) and run, in one call,
#
#     DIVERSENET_ANCHORS=devcarry/anchors bash bench/side_by_side.sh 16 devcarry/mnist > $OUT/side16.txt
#     bash bench/thread_sweep.sh "1 2 4 8 16" 2 devcarry/mnist > $OUT/threads.txt
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
mnist=${2:-../shared/data/mnist}
bin=${DIVERSENET_BIN:-target/release/diversenet}
anchors=${DIVERSENET_ANCHORS:-../shared/anchors}
export OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads
run() {
    echo "\$ $*"
    "$@"
    echo
}
echo "# $(date -u +%FT%TZ), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $threads threads"
# 1. The training step (784 -> n -> 10, batch 128, Adam, f32), samples/s.
run "$bin" --threads "$threads" bench train --widths 100,1000
run python3 bench/numpy_train_step.py --widths 100,1000
if python3 -c 'import torch' 2>/dev/null; then
    run python3 "$anchors/torch_train_step.py" steps
else
    echo "# PyTorch is not installed here: no PyTorch column"
fi
# 2. End to end: 5 epochs of MNIST at width 100, loading included (three of each, alternating).
run bash bench/e2e_rounds.sh 3 "$threads" "$mnist"
# 3. Regularisers beside a training epoch (n = 1000, d = 784).
run "$bin" --threads "$threads" bench reg --seeds 0
# 4. s_m(D) (n = 1000, d = 784).
run "$bin" --threads "$threads" bench theory --points 2000,5000 --repeats 3
run python3 bench/numpy_gram_eig.py --points 2000,5000 --repeats 3
