#!/usr/bin/env python3
"""The seed CNN's speed on this machine, side by side: gradlab on flex (the fast path and burn's
stock layers), onnxruntime (CPU provider, running gradlab's own ONNX export) and TF-Keras /
PyTorch on the CPU; inference and the training step; interleaved rounds, medians over rounds
with their spread, and gradlab's fast path over each of the others.

    python3 scripts/speed_table.py [--rounds 3] [--infer-batches 1,32,256]
                                   [--train-batches 1,32,256,1024] [--smoke] [--out FILE]

Each round runs, one after the other: onnxruntime (scripts/onnx_run.py time), the reference
frameworks at each training batch (scripts/reference.py: each framework in its own process,
whichever this Python has; one that is missing is named as such), then gradlab's bench on flex
(`--models mnist-cnn,mnist-cnn-fast --no-conformance`). Every side times the same fixed batch of
real mnist-5k digits (scripts/reference.py gives the rule), so a slow spell of a shared machine
hits all of them. The ONNX file is exported once, at the start, from a model trained for one
short epoch (inference time does not depend on the weights): `mnist-cnn train` then
`mnist-cnn export --format onnx`, in a temporary folder.

The table names the machine (CPU model, cores), the threads each side uses (gradlab: rayon's
pool, one per core; onnxruntime, TensorFlow and PyTorch: their defaults) and every version. The
figures are only comparable side by side, from one run of this script.

--smoke: one round, batch 2 for inference and training, a short bench budget; checks that every
part runs and prints a well-formed table (CI runs it so; no figure is asserted anywhere).
Build first (`cargo build --release --workspace`); the binaries are looked up in --bin-dir,
else $CARGO_TARGET_DIR/release, then target/release. Needs onnxruntime and numpy (and tf_keras /
torch for their columns) in this Python.
"""

import argparse
import glob
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def binary(name, bin_dir):
    dirs = [bin_dir] if bin_dir else [os.path.join(d, "release") for d in
                                      [os.environ.get("CARGO_TARGET_DIR"), os.path.join(ROOT, "target")] if d]
    for d in dirs:
        if os.path.exists(os.path.join(d, name)):
            return os.path.join(d, name)
    sys.exit(f"error: no {name} binary in {', '.join(dirs)}; run `cargo build --release --workspace` first")


def batches(text, flag):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        sys.exit(f"error: {flag} {text!r}: give batch sizes such as 1,32,256")
    if not values or any(v < 1 for v in values):
        sys.exit(f"error: {flag} {text!r}: every batch size must be at least 1")
    return values


def run(cmd, what, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        tail = (p.stderr.strip() or p.stdout.strip()).splitlines()[-5:]
        sys.exit(f"error: {what} failed (exit status {p.returncode}): " + " | ".join(tail))
    return p.stdout


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}"


def export_onnx(mnist_cnn, work):
    out = os.path.join(work, "runs")
    run([mnist_cnn, "--backend", "flex", "--out", out, "--test-limit", "100", "train", "--epochs", "1",
         "--train-limit", "96"], "training a model to export", cwd=work)
    path = os.path.join(work, "seed-cnn.onnx")
    run([mnist_cnn, "--out", out, "export", "--format", "onnx", path], "mnist-cnn export --format onnx", cwd=work)
    return path


def onnx_round(model, infer, reps):
    out = run([sys.executable, os.path.join(HERE, "onnx_run.py"), "time", model, "--batches",
               ",".join(map(str, infer)), "--reps", str(reps)], "onnx_run.py time")
    doc = json.loads(out.strip().splitlines()[-1])
    name = f"onnxruntime {doc['onnxruntime']} (CPU, threads: {doc.get('threads', 'default')})"
    return name, {x["batch"]: x["images_per_s"] for x in doc["results"]}


def reference_round(batch, reps, work):
    out = os.path.join(work, f"reference-{batch}.json")
    run([sys.executable, os.path.join(HERE, "reference.py"), "--batch", str(batch), "--reps", str(reps),
         "--out", out], f"reference.py --batch {batch}")
    with open(out) as f:
        doc = json.load(f)
    found = {}
    for r in doc["results"]:
        fw = r["framework"]
        if "error" in r:
            found[fw] = (None, r["error"])
        else:
            threads = r.get("threads", "default")
            found[fw] = (r["images_per_second"], f"{fw} {r['version']} (CPU, threads: {threads})")
    return found


def bench_round(bench, infer, train, smoke, work, r):
    out = os.path.join(work, f"bench-{r}")
    sizes = sorted(set(infer) | set(train))
    cmd = [bench, "--backends", "flex", "--models", "mnist-cnn,mnist-cnn-fast", "--batch-sizes",
           ",".join(map(str, sizes)), "--no-conformance", "--out", out]
    if smoke:
        cfg = os.path.join(work, "smoke.toml")
        with open(cfg, "w") as f:
            f.write("warmup = 1\nmin_reps = 2\nmax_reps = 3\nmax_seconds = 0.2\n")
        cmd += ["--config", cfg]
    run(cmd, "bench")
    report = sorted(glob.glob(os.path.join(out, "run-*", "report.json")))[-1]
    with open(report) as f:
        doc = json.load(f)
    res = {}
    for m in doc["results"]:
        res[(m["model"], m["batch"])] = (m["train"]["items_per_second"], m["infer"]["items_per_second"])
    return res


def cell(values):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:,.0f}"
    return f"{med:,.0f} [{min(values):,.0f}–{max(values):,.0f}]"


def ratio(fast, other):
    """Median over rounds of fast / other, with its spread (rounds paired)."""
    pairs = [f / o for f, o in zip(fast, other) if f is not None and o]
    if not pairs:
        return "-"
    med = statistics.median(pairs)
    if len(pairs) == 1:
        return f"{med:.2f}×"
    return f"{med:.2f}× [{min(pairs):.2f}–{max(pairs):.2f}]"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--infer-batches", default="1,32,256")
    ap.add_argument("--train-batches", default="1,32,256,1024")
    ap.add_argument("--reps", type=int, default=0, help="timed calls per round for onnxruntime / "
                    "reference.py (default 200 / 30; --smoke: 3)")
    ap.add_argument("--smoke", action="store_true", help="one round, batch 2, short budgets")
    ap.add_argument("--out", help="also write the figures as JSON here")
    ap.add_argument("--bin-dir", help="the folder holding the bench and mnist-cnn binaries")
    a = ap.parse_args()
    if a.rounds < 1:
        sys.exit("error: --rounds must be at least 1")
    infer = batches(a.infer_batches, "--infer-batches")
    train = batches(a.train_batches, "--train-batches")
    if a.smoke:
        a.rounds, infer, train = 1, [2], [2]
    onnx_reps = a.reps or (3 if a.smoke else 200)
    ref_reps = a.reps or (3 if a.smoke else 30)
    bench, mnist_cnn = binary("bench", a.bin_dir), binary("mnist-cnn", a.bin_dir)
    work = tempfile.mkdtemp(prefix="speed-table-")
    model = export_onnx(mnist_cnn, work)

    # name -> {("infer"|"train", batch): [per-round values]}
    cols = {}
    labels = {}
    missing = {}

    def put(key, task, batch, r, value):
        cols.setdefault(key, {}).setdefault((task, batch), [None] * a.rounds)[r] = value

    for r in range(a.rounds):
        name, got = onnx_round(model, infer, onnx_reps)
        labels["onnxruntime"] = name
        for b, v in got.items():
            put("onnxruntime", "infer", b, r, v)
        for b in train:
            for fw, (v, about) in reference_round(b, ref_reps, work).items():
                if v is None:
                    missing[fw] = about
                    continue
                labels[fw] = about
                put(fw, "train", b, r, v)
        for (m, b), (t, i) in bench_round(bench, infer, train, a.smoke, work, r).items():
            key = "gradlab fast" if m == "mnist-cnn-fast" else "gradlab stock"
            if b in train:
                put(key, "train", b, r, t)
            if b in infer:
                put(key, "infer", b, r, i)
        print(f"round {r + 1} of {a.rounds} done", file=sys.stderr, flush=True)

    version = run([mnist_cnn, "--version"], "mnist-cnn --version").strip()
    labels["gradlab fast"] = f"{version}, fast path (fastconv), flex, rayon threads: {os.cpu_count()}"
    labels["gradlab stock"] = f"{version}, burn's stock layers, flex"
    others = [k for k in ["onnxruntime", "tensorflow", "torch"] if k in cols]
    others += sorted(k for k in cols if k not in others and not k.startswith("gradlab"))

    print(f"machine: {machine()}")
    print(f"rounds: {a.rounds}, interleaved; each cell: images/s, median over rounds [min–max]")
    for key in ["gradlab fast", "gradlab stock"] + others:
        if key in labels:
            print(f"  {key}: {labels[key]}")
    for fw, why in sorted(missing.items()):
        print(f"  {fw}: not timed ({why})")
    head = ["task", "batch", "gradlab fast", "gradlab stock"] + others + [f"fast / {o}" for o in others]
    rows = []
    for task, sizes in [("inference", infer), ("training", train)]:
        t = "infer" if task == "inference" else "train"
        for b in sizes:
            fast = cols.get("gradlab fast", {}).get((t, b), [None] * a.rounds)
            row = [task, str(b), cell(fast), cell(cols.get("gradlab stock", {}).get((t, b), []))]
            row += [cell(cols[o].get((t, b), [])) for o in others]
            row += [ratio(fast, cols[o].get((t, b), [])) for o in others]
            rows.append(row)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    if a.out:
        doc = {"machine": machine(), "rounds": a.rounds, "labels": labels, "missing": missing,
               "figures": {k: {f"{t} {b}": v for (t, b), v in d.items()} for k, d in cols.items()}}
        with open(a.out, "w") as f:
            json.dump(doc, f, indent=2)
        print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
