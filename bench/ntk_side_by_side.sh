#!/usr/bin/env bash
# lambda_min of the empirical NTK of a 784-100-100-10 MLP with biases, diversenet beside
# torch.func, on the same network and points, one run each (bench/ntk.md):
#
#     bash bench/ntk_side_by_side.sh [THREADS] > ntk.txt
#
# THREADS defaults to 2. It builds nothing: run `cargo build --release` first (or set
# DIVERSENET_BIN), and use a python3 that imports torch and safetensors. Run it on an
# otherwise idle machine. torch.func's full eNTK at m = 2000 needs its Jacobian (20000 x
# 89610 values): in float64 that and the matrices of the eNTK's size exceed a 24 GiB
# machine's budget, so the script times it in float32 (what torch users run) and says so;
# torch.func's part takes the better part of an hour.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
bin=${DIVERSENET_BIN:-target/release/diversenet}
inputs=${NTK_BENCH_DIR:-target/ntk-bench}
export OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads
run() {
    echo "\$ $*"
    "$@"
    echo
}
echo "# $(date -u +%FT%TZ), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $threads threads, load average $(cut -d' ' -f1-3 /proc/loadavg)"
# 1. m = 1000 and 2000, trace and full: the comparison.
run "$bin" --threads "$threads" bench ntk --points 1000,2000 --forms trace,full --out "$inputs"
run python3 bench/torch_ntk.py "$inputs" --points 1000,2000 --forms trace --threads "$threads"
run python3 bench/torch_ntk.py "$inputs" --points 1000 --forms full --threads "$threads"
run python3 bench/torch_ntk.py "$inputs" --points 2000 --forms full --threads "$threads"
run python3 bench/torch_ntk.py "$inputs" --points 2000 --forms full --threads "$threads" --dtype float32
# 2. A size torch.func cannot hold in 24 GiB: the trace eNTK at m = 10000 (its Jacobian
#    alone is 100000 x 89610 values).
run "$bin" --threads "$threads" bench ntk --points 10000 --forms trace --out "$inputs-10000"
run python3 bench/torch_ntk.py "$inputs-10000" --points 10000 --forms trace --threads "$threads" --max-memory 20615843020
