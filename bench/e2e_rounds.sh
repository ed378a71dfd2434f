#!/usr/bin/env bash
# End to end, alternating: `diversenet train --data mnist --width 100 --epochs 5` (wall time
# of the process, loading included), bench/numpy_mnist_e2e.py and, where `python3` imports
# torch, bench/torch_train_step.py mnist (each script times itself after its imports), then
# the ratios of each round and their medians:
#
#     bash bench/e2e_rounds.sh [ROUNDS] [THREADS] [MNIST_DIR]
#
# ROUNDS defaults to 3, THREADS to 2, MNIST_DIR to $DIVERSENET_MNIST_DIR; DIVERSENET_BIN and
# DIVERSENET_ANCHORS as in bench/side_by_side.sh, which runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
threads=${2:-2}
mnist=${3:-${DIVERSENET_MNIST_DIR:?give MNIST_DIR or set DIVERSENET_MNIST_DIR (diversenet fetch mnist --dir DIR downloads it)}}
bin=${DIVERSENET_BIN:-target/release/diversenet}
anchors=${DIVERSENET_ANCHORS:-bench}
export OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
torch=$(python3 -c 'import torch' 2>/dev/null && echo yes || echo no)
for i in $(seq "$rounds"); do
    echo "\$ $bin --threads $threads train --data mnist --data-dir $mnist --width 100 --epochs 5 --out DIR"
    /usr/bin/time -f "diversenet: wall %e s" "$bin" --threads "$threads" train --data mnist \
        --data-dir "$mnist" --width 100 --epochs 5 --out "$out/run$i" --quiet 2>&1 | tail -n 1
    echo "\$ python3 $anchors/numpy_mnist_e2e.py $mnist"
    python3 "$anchors/numpy_mnist_e2e.py" "$mnist"
    if [ "$torch" = yes ]; then
        echo "\$ python3 $anchors/torch_train_step.py mnist $mnist"
        python3 "$anchors/torch_train_step.py" mnist "$mnist"
    fi
done | tee "$out/log"
python3 - "$out/log" "$threads" <<'PY'
import re, statistics, sys
text, threads = open(sys.argv[1]).read(), sys.argv[2]
ours = [float(v) for v in re.findall(r"diversenet: wall ([\d.]+) s", text)]
others = {
    "numpy": [float(v) for v in re.findall(r"numpy \S+ MNIST width 100, 5 epochs: ([\d.]+) s", text)],
    "PyTorch": [float(v) for v in re.findall(rf"torch cpu {threads} threads: MNIST width 100, 5 epochs: ([\d.]+) s", text)],
}
print(f"diversenet {threads} threads: median {statistics.median(ours):.2f} s over {len(ours)} rounds")
for name, times in others.items():
    if len(times) == len(ours) and times:
        ratios = [a / b for a, b in zip(ours, times)]
        print(f"  against {name} ({threads} threads, median {statistics.median(times):.2f} s): time ratio per round "
              + ", ".join(f"{r:.2f}" for r in ratios) + f"; median {statistics.median(ratios):.2f}x")
PY
