#!/usr/bin/env python3
"""Time the seed CNN's training step in TensorFlow-Keras and/or PyTorch, for `bench`.

Same model, shapes, loss and optimizer as gradlab's `mnist-cnn` (Conv2D 32/64/64 3x3 relu,
two 2x2 max-pools, Dense 64 relu, Dense 10; softmax cross-entropy on logits; Adam 1e-3),
random inputs of shape [batch, 28, 28, 1] (Keras) / [batch, 1, 28, 28] (PyTorch). Each
framework: 5 warm-up steps, then `--reps` steps timed one by one (the step's result is read
back, so the time covers the whole step); the median gives images/s.

Writes runs/bench/reference.json (or --out), which `cargo run -p bench --release` reads.
A framework that is not installed is recorded as such; nothing here is needed by the tests.
Each framework runs in a process of its own: TensorFlow and PyTorch loaded into one process
can abort (both bring LLVM, which refuses options registered twice).

    python3 scripts/reference.py [--batch 32] [--reps 50] [--threads N] [--out FILE]
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time


def time_steps(step, reps):
    for _ in range(5):
        step()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def keras(batch, reps, threads):
    try:
        import numpy as np
        import tensorflow as tf
    except ImportError as e:
        return {"framework": "tensorflow", "error": f"not installed ({e.name})"}
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    L = tf.keras.layers
    model = tf.keras.Sequential([
        tf.keras.Input((28, 28, 1)),
        L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2),
        L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(2),
        L.Conv2D(64, 3, activation="relu"), L.Flatten(),
        L.Dense(64, activation="relu"), L.Dense(10),
    ])
    opt = tf.keras.optimizers.Adam(1e-3)
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    x = tf.constant(np.random.rand(batch, 28, 28, 1).astype("float32"))
    y = tf.constant(np.random.randint(0, 10, batch))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    median = time_steps(lambda: step().numpy(), reps)
    return {"framework": "tensorflow", "version": tf.__version__, "batch": batch,
            "images_per_second": batch / median, "median_ms": median * 1e3, "reps": reps}


def torch_(batch, reps, threads):
    try:
        import torch
        from torch import nn
    except ImportError as e:
        return {"framework": "torch", "error": f"not installed ({e.name})"}
    if threads:
        torch.set_num_threads(threads)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
        nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.rand(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    median = time_steps(step, reps)
    return {"framework": "torch", "version": torch.__version__, "batch": batch,
            "images_per_second": batch / median, "median_ms": median * 1e3, "reps": reps}


def one(framework, a):
    """Time `framework` in a child process; its result, or why there is none."""
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        p = subprocess.run([sys.executable, os.path.abspath(__file__), "--only", framework,
                            "--batch", str(a.batch), "--reps", str(a.reps), "--threads", str(a.threads),
                            "--out", path], capture_output=True, text=True)
        if p.returncode != 0:
            last = (p.stderr.strip().splitlines() or ["no message"])[-1]
            return {"framework": framework, "error": f"crashed (exit status {p.returncode}: {last})"}
        with open(path) as f:
            return json.load(f)["results"][0]
    finally:
        os.remove(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--threads", type=int, default=0, help="0: the framework's default")
    ap.add_argument("--out", default="runs/bench/reference.json")
    ap.add_argument("--only", choices=["tensorflow", "torch"], help="time one framework in this process")
    a = ap.parse_args()
    if a.only:
        results = [(keras if a.only == "tensorflow" else torch_)(a.batch, a.reps, a.threads)]
    else:
        results = [one("tensorflow", a), one("torch", a)]
    if not a.only:
        for r in results:
            if "error" in r:
                print(f"{r['framework']}: {r['error']}")
            else:
                print(f"{r['framework']} {r['version']}: {r['images_per_second']:.0f} images/s at batch {r['batch']}")
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    machine = {"processor": platform.processor() or platform.machine(), "cores": os.cpu_count(),
               "python": platform.python_version(), "time": time.strftime("%Y-%m-%d %H:%M:%S")}
    with open(a.out + ".tmp", "w") as f:
        json.dump({"results": results, "machine": machine}, f, indent=2)
    os.replace(a.out + ".tmp", a.out)
    if not a.only:
        print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
