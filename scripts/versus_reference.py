#!/usr/bin/env python3
"""Interleave the reference frameworks and gradlab's bench on the seed CNN's training step.

Each round runs scripts/reference.py (TensorFlow-Keras / PyTorch, whichever this Python has),
then the bench on flex for `mnist-cnn` (burn's stock layers) and `mnist-cnn-fast` (fastconv),
reading that round's reference file; the rounds alternate, so a slow spell of a shared machine
hits both sides. Prints every round and the medians over rounds of images/s and of the ratios.

    python3 scripts/versus_reference.py [--rounds 5] [--batch 32] [--reps 50] [--data FILE] [--bench PATH]

Both sides time one fixed batch of real mnist-5k digits, chosen by the same rule (see
scripts/reference.py); --data is handed to reference.py (default: the repository's copy).

Build first (`cargo build --release --workspace`); the bench binary is looked up in
$CARGO_TARGET_DIR/release, then target/release. Nothing here is needed by the tests.
"""

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile


def bench_path(given):
    if given:
        return given
    for d in [os.environ.get("CARGO_TARGET_DIR"), "target"]:
        if d and os.path.exists(os.path.join(d, "release", "bench")):
            return os.path.join(d, "release", "bench")
    sys.exit("error: no bench binary; run `cargo build --release --workspace` or pass --bench PATH")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--reps", type=int, default=50, help="reference steps timed per round")
    ap.add_argument("--data", help="the mnist-5k CSV for reference.py (default: its own default)")
    ap.add_argument("--bench", help="the bench binary (default: found as described above)")
    a = ap.parse_args()
    if a.rounds < 1 or a.batch < 1:
        sys.exit("error: --rounds and --batch must be at least 1")
    bench = bench_path(a.bench)
    here = os.path.dirname(os.path.abspath(__file__))
    work = tempfile.mkdtemp(prefix="versus-")
    rows = []  # (round, name, images/s)
    for r in range(1, a.rounds + 1):
        ref = os.path.join(work, f"reference-{r}.json")
        cmd = [sys.executable, os.path.join(here, "reference.py"), "--batch", str(a.batch),
               "--reps", str(a.reps), "--out", ref] + (["--data", a.data] if a.data else [])
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            sys.exit((p.stderr.strip().splitlines() or [f"reference.py failed (exit status {p.returncode})"])[-1])
        for x in json.load(open(ref))["results"]:
            if x.get("images_per_second"):
                rows.append((r, f"{x['framework']} {x['version']}", x["images_per_second"]))
        out = os.path.join(work, f"bench-{r}")
        subprocess.run([bench, "--backends", "flex", "--models", "mnist-cnn,mnist-cnn-fast",
                        "--batch-sizes", str(a.batch), "--no-conformance", "--reference", ref,
                        "--out", out], check=True, stdout=subprocess.DEVNULL)
        report = json.load(open(sorted(glob.glob(os.path.join(out, "run-*", "report.json")))[-1]))
        for m in report["results"]:
            rows.append((r, f"gradlab {m['model']} (flex)", m["train"]["items_per_second"]))
        print(f"round {r}: " + ", ".join(f"{n} {v:.0f}" for (rr, n, v) in rows if rr == r), flush=True)
    names = list(dict.fromkeys(n for (_, n, _) in rows))
    med = {n: statistics.median(v for (_, m, v) in rows if m == n) for n in names}
    print(f"\nmedians over {a.rounds} rounds, training step at batch {a.batch}, images/s:")
    for n in names:
        print(f"  {n:<32} {med[n]:8.0f}")
    refs = [n for n in names if not n.startswith("gradlab")]
    for g in [n for n in names if n.startswith("gradlab")]:
        for f in refs:
            per_round = [gv / fv for (r, gn, gv) in rows if gn == g
                         for (r2, fn, fv) in rows if fn == f and r2 == r]
            print(f"  {g} / {f}: median of per-round ratios {statistics.median(per_round):.2f}× "
                  f"(range {min(per_round):.2f}–{max(per_round):.2f})")
    if not refs:
        print("  no reference framework is installed for this Python (see scripts/reference.py)")


if __name__ == "__main__":
    main()
