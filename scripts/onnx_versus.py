#!/usr/bin/env python3
"""Interleave onnxruntime and gradlab's bench on the seed CNN's inference, batch 1 and 32.

Each round runs scripts/onnx_run.py time on an ONNX export of the seed CNN (onnxruntime, CPU
provider), then the bench's inference step on flex for `mnist-cnn` (burn's stock layers) and
`mnist-cnn-fast` (fastconv) at the same batch sizes; both sides time the same fixed batch of real
mnist-5k digits (see scripts/reference.py). The rounds alternate, so a slow spell of a shared
machine hits both sides. Prints every round, then the medians over rounds of images/s and of
gradlab / onnxruntime.

    python3 scripts/onnx_versus.py MODEL.onnx [--rounds 3] [--batches 1,32] [--bench PATH]

MODEL.onnx: `mnist-cnn export --format onnx MODEL.onnx` (inference time does not depend on the
weights, so any trained model will do). Build first (`cargo build --release --workspace`).
Needs onnxruntime and numpy for this Python. Nothing here is needed by the tests.
"""

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from versus_reference import bench_path  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--bench", help="the bench binary (default: $CARGO_TARGET_DIR/release, then target/release)")
    a = ap.parse_args()
    if a.rounds < 1:
        sys.exit("error: --rounds must be at least 1")
    bench = bench_path(a.bench)
    here = os.path.dirname(os.path.abspath(__file__))
    work = tempfile.mkdtemp(prefix="onnx-versus-")
    rows = []  # (round, name, batch, images/s)
    for r in range(1, a.rounds + 1):
        p = subprocess.run([sys.executable, os.path.join(here, "onnx_run.py"), "time", a.model,
                            "--batches", a.batches], capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit((p.stderr.strip().splitlines() or [f"onnx_run.py failed (exit status {p.returncode})"])[-1])
        doc = json.loads(p.stdout.strip().splitlines()[-1])
        for x in doc["results"]:
            rows.append((r, f"onnxruntime {doc['onnxruntime']} (CPU)", x["batch"], x["images_per_s"]))
        out = os.path.join(work, f"bench-{r}")
        subprocess.run([bench, "--backends", "flex", "--models", "mnist-cnn,mnist-cnn-fast",
                        "--batch-sizes", a.batches, "--no-conformance", "--out", out],
                       check=True, stdout=subprocess.DEVNULL)
        report = json.load(open(sorted(glob.glob(os.path.join(out, "run-*", "report.json")))[-1]))
        for m in report["results"]:
            rows.append((r, f"gradlab {m['model']} (flex)", m["batch"], m["infer"]["items_per_second"]))
        print(f"round {r}: " + ", ".join(f"{n} b{b} {v:.0f}" for (rr, n, b, v) in rows if rr == r), flush=True)
    names = list(dict.fromkeys(n for (_, n, _, _) in rows))
    batches = sorted({b for (_, _, b, _) in rows})
    print(f"\nmedians over {a.rounds} rounds, inference images/s:")
    for b in batches:
        med = {n: statistics.median(v for (_, m, bb, v) in rows if m == n and bb == b) for n in names}
        ort = next(n for n in names if n.startswith("onnxruntime"))
        for n in names:
            ratio = "" if n == ort else f"  = {med[n] / med[ort]:.2f}× onnxruntime"
            print(f"  batch {b:>4}  {n:<32} {med[n]:10.0f}{ratio}")


if __name__ == "__main__":
    main()
