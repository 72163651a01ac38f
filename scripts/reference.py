#!/usr/bin/env python3
"""Time the seed CNN's training step in TensorFlow-Keras and/or PyTorch, for `bench`.

Same model, shapes, loss and optimizer as gradlab's `mnist-cnn` (Conv2D 32/64/64 3x3 relu,
two 2x2 max-pools, Dense 64 relu, Dense 10; softmax cross-entropy on logits; Adam 1e-3).
Both frameworks train on one fixed batch of real digits, the batch the Rust bench times: from
the mnist-5k file (--data, default datasets/mnist-5k/mnist_5k.csv.gz under the repository root;
gzipped CSV, one image a line, 784 pixels 0-255 row-major 28x28 then the label 0-9), image k of
a batch of b (k = 0..b-1) is image (k * 503) % n of the file (0-based, n images in the file),
pixels / 255 as float32, shaped [b, 28, 28, 1] (Keras) / [b, 1, 28, 28] (PyTorch). Real digits
rather than random pixels: convolution time can depend on the data. The file is sorted by label
(500 of each digit in order); the stride 503 walks across the label blocks, so every batch is
close to label-balanced (b = 32: 4, 4, then 3 of each other digit; "labels_histogram" records
it). Each framework: 5 warm-up steps, then
`--reps` steps timed one by one, always on that batch (the step's result is read back, so the
time covers the whole step); the median gives images/s.

Writes runs/bench/reference.json (or --out), which `cargo run -p bench --release` reads: every
result, and the file's top level, carry a "data" entry saying which images were timed. A
framework that is not installed is recorded as such; nothing here is needed by the tests.
Each framework runs in a process of its own: TensorFlow and PyTorch loaded into one process
can abort (both bring LLVM, which refuses options registered twice). A missing or malformed
data file stops the script with an error naming the file (and the line).

    python3 scripts/reference.py [--batch 32] [--reps 50] [--threads N] [--data FILE] [--out FILE]
                                 [--device cpu|cuda]

--device cuda times PyTorch on CUDA device 0 (the model, the batch and the optimizer on the GPU,
`torch.cuda.synchronize()` inside the timed region so the whole step is timed) and records the
GPU's name; TensorFlow is left out. Without a CUDA device it says "no CUDA device" and why, and
exits with status 1.
"""

import argparse
import gzip
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = os.path.join(ROOT, "datasets", "mnist-5k", "mnist_5k.csv.gz")
PIXELS = 28 * 28
STRIDE = 503  # prime: for n = 5000 the first 5000 batch slots are distinct images, spread over the label blocks
BATCH_RULE = f"fixed batch: image (k*{STRIDE}) % n of the file, k = 0..b-1, pixels/255"


class DataError(Exception):
    pass


def read_digits(path):
    """All images of the mnist-5k CSV at `path`: (pixels, labels), pixels a list of 784-int lists.

    Checks every line as gradlab's reader does (785 integer fields, pixels <= 255, label 0-9;
    blank lines skipped) and raises DataError naming the file and the (1-based) line."""
    try:
        with gzip.open(path, "rt", encoding="ascii") as f:
            text = f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file (the mnist-5k data set ships in the repository's "
                        "datasets/ folder; pass --data FILE if it is elsewhere)")
    except (OSError, EOFError, UnicodeDecodeError, ValueError) as e:
        raise DataError(f"{path}: not a readable gzipped CSV ({e})")
    pixels, labels = [], []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != PIXELS + 1:
            raise DataError(f"{path} line {n}: {len(fields)} fields, expected {PIXELS + 1}")
        values = []
        for i, v in enumerate(fields):
            try:
                values.append(int(v))
            except ValueError:
                raise DataError(f"{path} line {n}: field {i + 1} `{v}` is not an integer") from None
        for i, v in enumerate(values[:PIXELS]):
            if not 0 <= v <= 255:
                raise DataError(f"{path} line {n}: pixel {i + 1} = {v} is not in 0-255")
        if not 0 <= values[PIXELS] <= 9:
            raise DataError(f"{path} line {n}: label {values[PIXELS]} is not a digit 0-9")
        pixels.append(values[:PIXELS])
        labels.append(values[PIXELS])
    if not labels:
        raise DataError(f"{path}: no images")
    return pixels, labels


def fixed_batch(path, batch):
    """The timed batch: (pixels, labels, data) with pixels[k] (784 ints 0-255) and labels[k] of
    image (k * 503) % n, and `data` the entry recorded in the JSON."""
    pixels, labels = read_digits(path)
    n = len(labels)
    picks = [(k * STRIDE) % n for k in range(batch)]
    with open(path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    rel = os.path.relpath(os.path.abspath(path), ROOT)
    data = {"source": "mnist-5k",
            "file": os.path.abspath(path) if rel.startswith("..") else rel.replace(os.sep, "/"),
            "sha256": sha, "file_images": n, "batch_rule": BATCH_RULE, "images": batch,
            "labels_histogram": [sum(labels[i] == d for i in picks) for d in range(10)]}
    return [pixels[i] for i in picks], [labels[i] for i in picks], data


def time_steps(step, reps):
    for _ in range(5):
        step()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


# ANCHOR: keras_model
def keras_seed_model(keras):
    """The seed CNN in Keras (`keras`: tf.keras or tf_keras), channels-last 28x28x1 inputs."""
    L = keras.layers
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2),
        L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(2),
        L.Conv2D(64, 3, activation="relu"), L.Flatten(),
        L.Dense(64, activation="relu"), L.Dense(10),
    ])
# ANCHOR_END: keras_model


def torch_seed_model(nn):
    """The seed CNN in PyTorch (`nn`: torch.nn) as nn.Sequential: its state_dict names are
    0.*, 3.*, 6.* (convolutions), 9.*, 11.* (linear layers)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
        nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10),
    )


def keras(batch, reps, threads, digits):
    try:
        import numpy as np
        import tensorflow as tf
    except ImportError as e:
        return {"framework": "tensorflow", "error": f"not installed ({e.name})"}
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    model = keras_seed_model(tf.keras)
    # ANCHOR: keras_training
    opt = tf.keras.optimizers.Adam(1e-3)
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    pixels, labels, data = digits
    x = tf.constant((np.array(pixels, dtype=np.float32) / 255.0).reshape(batch, 28, 28, 1))
    y = tf.constant(np.array(labels, dtype=np.int64))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss
    # ANCHOR_END: keras_training

    median = time_steps(lambda: step().numpy(), reps)
    return {"framework": "tensorflow", "version": tf.__version__, "batch": batch,
            "images_per_second": batch / median, "median_ms": median * 1e3, "reps": reps, "data": data}


class NoDevice(Exception):
    """The requested device is not there (exit status 2 from a child process)."""


def cuda_device(torch):
    """The name of CUDA device 0, or NoDevice saying clearly why there is none."""
    if not torch.cuda.is_available():
        why = "this torch is built without CUDA" if getattr(torch.version, "cuda", None) is None \
            else "no driver or no GPU visible"
        raise NoDevice(f"no CUDA device: torch {torch.__version__} sees none ({why}; "
                       "torch.cuda.is_available() is False); use --device cpu")
    return torch.cuda.get_device_name(0)


def torch_(batch, reps, threads, digits, device="cpu"):
    try:
        import torch
        from torch import nn
    except ImportError as e:
        return {"framework": "torch", "error": f"not installed ({e.name})"}
    gpu = cuda_device(torch) if device == "cuda" else None
    if threads:
        torch.set_num_threads(threads)
    model = torch_seed_model(nn).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    pixels, labels, data = digits
    x = (torch.tensor(pixels, dtype=torch.float32) / 255.0).reshape(batch, 1, 28, 28).to(device)
    y = torch.tensor(labels, dtype=torch.int64).to(device)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        if gpu:
            torch.cuda.synchronize()  # the whole step, not just its launch, inside the timed region
        return loss.item()

    median = time_steps(step, reps)
    version = torch.__version__ + (f" on {gpu} (CUDA {torch.version.cuda})" if gpu else "")
    return {"framework": "torch", "version": version, "device": gpu or "cpu", "batch": batch,
            "images_per_second": batch / median, "median_ms": median * 1e3, "reps": reps, "data": data}


def one(framework, a):
    """Time `framework` in a child process; its result, or why there is none."""
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        p = subprocess.run([sys.executable, os.path.abspath(__file__), "--only", framework,
                            "--batch", str(a.batch), "--reps", str(a.reps), "--threads", str(a.threads),
                            "--device", a.device, "--data", os.path.abspath(a.data), "--out", path],
                           capture_output=True, text=True)
        if p.returncode == 2:
            return {"framework": framework, "error": (p.stderr.strip().splitlines() or ["no device"])[-1]}
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
    ap.add_argument("--data", default=DEFAULT_DATA,
                    help="the mnist-5k CSV (default: datasets/mnist-5k/mnist_5k.csv.gz in the repository)")
    ap.add_argument("--out", default="runs/bench/reference.json")
    ap.add_argument("--only", choices=["tensorflow", "torch"], help="time one framework in this process")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                    help="cuda: PyTorch on CUDA device 0 (TensorFlow is timed on the CPU only)")
    a = ap.parse_args()
    if a.batch < 1 or a.reps < 1:
        sys.exit("error: --batch and --reps must be at least 1")
    try:
        digits = fixed_batch(a.data, a.batch)
    except DataError as e:
        sys.exit(f"error: {e}")
    data = digits[2]
    if a.only == "tensorflow":
        results = [keras(a.batch, a.reps, a.threads, digits)]
    elif a.only == "torch":
        try:
            results = [torch_(a.batch, a.reps, a.threads, digits, a.device)]
        except NoDevice as e:
            print(e, file=sys.stderr)
            sys.exit(2)
    elif a.device == "cuda":
        results = [one("torch", a)]
    else:
        results = [one("tensorflow", a), one("torch", a)]
    for r in results:
        r.setdefault("data", data)
    if not a.only:
        for r in results:
            if "error" in r:
                print(f"{r['framework']}: {r['error']}")
            else:
                print(f"{r['framework']} {r['version']}: {r['images_per_second']:.0f} images/s at batch {r['batch']}")
        print(f"data: {data['images']} fixed mnist-5k digits from {data['file']} "
              f"(labels 0-9: {data['labels_histogram']})")
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    machine = {"processor": platform.processor() or platform.machine(), "cores": os.cpu_count(),
               "python": platform.python_version(), "time": time.strftime("%Y-%m-%d %H:%M:%S")}
    with open(a.out + ".tmp", "w") as f:
        json.dump({"results": results, "machine": machine, "data": data}, f, indent=2)
    os.replace(a.out + ".tmp", a.out)
    if not a.only:
        print(f"wrote {a.out}")
    if a.device == "cuda" and not a.only and not any("images_per_second" in r for r in results):
        sys.exit(1)  # asked for the GPU and got nothing: say so in the exit status too


if __name__ == "__main__":
    main()
