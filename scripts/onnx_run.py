#!/usr/bin/env python3
"""Run a gradlab ONNX export in onnxruntime: its logits for given images, or its speed.

    python3 scripts/onnx_run.py logits MODEL.onnx IMAGES.json OUT.json
        IMAGES.json: {"images": [[784 floats], ...]} (pixels / 255, row-major 28x28).
        Writes {"logits": [[10 floats], ...], "onnxruntime": version, "providers": [...],
        "input": name, "output": name} to OUT.json. Used by crates/mnist-cnn/tests/mnist-cnn/onnx.rs.

    python3 scripts/onnx_run.py time MODEL.onnx [--batches 1,32] [--reps 200] [--threads N]
        Inference images/s in onnxruntime (CPU provider) on the bench's fixed batch of real
        digits (image (k*503) % n of mnist-5k, as scripts/reference.py and `bench` use), one
        `session.run` per timed call, 5 warm-up calls, median over --reps calls. Prints one line
        per batch size and a JSON document on the last line.

The model's input must be named `images` ([batch, 1, 28, 28] float32) and its output `logits`
([batch, 10]): the names `mnist-cnn export --format onnx` documents. Needs `onnxruntime` and
`numpy` (pip install onnxruntime numpy); a missing one is reported as such (exit status 3).
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import DEFAULT_DATA, DataError, fixed_batch  # noqa: E402

INPUT, OUTPUT = "images", "logits"


def session(path, threads):
    try:
        import numpy  # noqa: F401
        import onnxruntime as ort
    except ImportError as e:
        print(f"onnx_run.py: {e.name} is not installed (pip install onnxruntime numpy)", file=sys.stderr)
        sys.exit(3)
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    s = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    names = ([i.name for i in s.get_inputs()], [o.name for o in s.get_outputs()])
    if names != ([INPUT], [OUTPUT]):
        sys.exit(f"{path}: expected input {INPUT!r} and output {OUTPUT!r}, found {names}")
    return ort, s


def logits(a):
    import numpy as np

    ort, s = session(a.model, a.threads)
    with open(a.images) as f:
        images = np.asarray(json.load(f)["images"], dtype=np.float32)
    if images.ndim != 2 or images.shape[1] != 28 * 28:
        sys.exit(f"{a.images}: expected rows of 784 pixels, found shape {images.shape}")
    out = s.run([OUTPUT], {INPUT: images.reshape(-1, 1, 28, 28)})[0]
    doc = {"logits": out.astype(float).tolist(), "onnxruntime": ort.__version__,
           "providers": s.get_providers(), "input": INPUT, "output": OUTPUT}
    with open(a.out, "w") as f:
        json.dump(doc, f)


def timing(a):
    import numpy as np

    ort, s = session(a.model, a.threads)
    results = []
    for b in a.batches:
        pixels, _, data = fixed_batch(a.data, b)
        x = (np.asarray(pixels, dtype=np.float32) / 255.0).reshape(b, 1, 28, 28)

        def call():
            s.run([OUTPUT], {INPUT: x})

        for _ in range(5):
            call()
        times = []
        for _ in range(a.reps):
            t = time.perf_counter()
            call()
            times.append(time.perf_counter() - t)
        median = statistics.median(times)
        results.append({"batch": b, "median_s": median, "images_per_s": b / median, "data": data})
        print(f"onnxruntime {ort.__version__} CPU, batch {b}: {b / median:,.0f} images/s "
              f"(median of {a.reps} calls, {median * 1e3:.3f} ms each)")
    print(json.dumps({"onnxruntime": ort.__version__, "threads": a.threads or "default",
                      "machine": platform.processor() or platform.machine(),
                      "cpus": os.cpu_count(), "results": results}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    lg = sub.add_parser("logits", help="logits of the images in a JSON file")
    lg.add_argument("model")
    lg.add_argument("images")
    lg.add_argument("out")
    lg.add_argument("--threads", type=int, default=0, help="0: onnxruntime's default")
    tm = sub.add_parser("time", help="inference images/s on the bench's fixed batch")
    tm.add_argument("model")
    tm.add_argument("--batches", default="1,32",
                    type=lambda v: [int(b) for b in v.split(",")], help="comma-separated batch sizes")
    tm.add_argument("--reps", type=int, default=200)
    tm.add_argument("--threads", type=int, default=0, help="0: onnxruntime's default")
    tm.add_argument("--data", default=DEFAULT_DATA, help="the mnist-5k CSV (gzipped)")
    a = ap.parse_args()
    try:
        (logits if a.command == "logits" else timing)(a)
    except (DataError, OSError, ValueError, KeyError) as e:
        sys.exit(f"onnx_run.py: {e}")


if __name__ == "__main__":
    main()
