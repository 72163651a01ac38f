#!/usr/bin/env python3
"""Make the cross-framework fixtures of `mnist-cnn import` (crates/mnist-cnn/tests/fixtures/).

The seed CNN built once in PyTorch and once in TF-Keras, each with its framework's own random
initial weights from a fixed seed (nothing trained: fixed weights are what the check needs),
saved as the file a user would bring, and the framework's own logits on the first 8 images of
the bench's fixed batch of real digits (scripts/reference.py's rule: image (k*503) % n of
datasets/mnist-5k, pixels/255):

- torch_seed_cnn.pt            torch.save(model.state_dict()) of reference.py's nn.Sequential
- torch_seed_cnn.safetensors   the same state_dict as safetensors
- keras_seed_cnn.safetensors   scripts/keras_to_safetensors.py's output for the Keras model
- logits.json                  both frameworks' logits, the image rule, the versions

gradlab's test (crates/mnist-cnn/tests/mnist-cnn/exchange.rs) imports each file and must give the same
logits within 1e-5. Run with TensorFlow (tf_keras), PyTorch, numpy and safetensors installed:

    python3 scripts/exchange_fixtures.py [--out crates/mnist-cnn/tests/fixtures]

Each framework runs in a process of its own (see reference.py).
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import reference  # noqa: E402  (the digits and the batch rule)

IMAGES = 8
SEED = 7


def digits():
    pixels, labels, data = reference.fixed_batch(reference.DEFAULT_DATA, IMAGES)
    return pixels, labels, data


def torch_part(out):
    import numpy as np
    import torch
    from safetensors.torch import save_file
    from torch import nn

    torch.manual_seed(SEED)
    model = reference.torch_seed_model(nn)
    pixels, _, _ = digits()
    x = torch.tensor(np.array(pixels, dtype=np.float32).reshape(IMAGES, 1, 28, 28) / 255.0)
    with torch.no_grad():
        logits = model(x).numpy().tolist()
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    torch.save(state, os.path.join(out, "torch_seed_cnn.pt"))
    save_file(state, os.path.join(out, "torch_seed_cnn.safetensors"), metadata={"layout": "pytorch"})
    return {"logits": logits, "version": f"torch {torch.__version__}"}


def keras_part(out):
    import numpy as np
    import tf_keras as keras
    from keras_to_safetensors import save, seed_cnn_tensors

    keras.utils.set_random_seed(SEED)
    model = reference.keras_seed_model(keras)
    # Keras's default bias initialiser is zeros: give the biases values too, so the fixture
    # checks that they land where they belong.
    rng = np.random.default_rng(SEED)
    for layer in model.layers:
        w = layer.get_weights()
        if w:
            layer.set_weights([w[0], rng.normal(0, 0.1, w[1].shape).astype(np.float32)])
    pixels, _, _ = digits()
    x = np.array(pixels, dtype=np.float32).reshape(IMAGES, 28, 28, 1) / 255.0
    logits = model(x, training=False).numpy().tolist()
    save(seed_cnn_tensors(model), os.path.join(out, "keras_seed_cnn.safetensors"))
    return {"logits": logits, "version": f"tf_keras {keras.__version__}"}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=os.path.join(os.path.dirname(HERE), "crates", "mnist-cnn", "tests", "fixtures"))
    p.add_argument("--part", choices=["torch", "keras"], help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.part:
        result = torch_part(a.out) if a.part == "torch" else keras_part(a.out)
        print(json.dumps(result))
        return
    os.makedirs(a.out, exist_ok=True)
    results = {}
    for part in ["torch", "keras"]:
        done = subprocess.run([sys.executable, __file__, "--out", a.out, "--part", part],
                              check=True, capture_output=True, text=True)
        results[part] = json.loads(done.stdout.strip().splitlines()[-1])
    _, labels, data = digits()
    doc = {"images": {**data, "labels": labels}, "seed": SEED, **results}
    with open(os.path.join(a.out, "logits.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {a.out}: " + ", ".join(f"{k} ({v['version']})" for k, v in results.items()))


if __name__ == "__main__":
    main()
