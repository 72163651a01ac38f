#!/usr/bin/env python3
"""Write the Keras seed CNN's weights as a safetensors file `mnist-cnn import` reads.

The seed model (scripts/reference.py's `keras` function, the README's Keras snippet) is
Conv2D(32) MaxPool Conv2D(64) MaxPool Conv2D(64) Flatten Dense(64) Dense(10) on 28x28x1
inputs. Its five weighted layers, in order, become `conv1`, `conv2`, `conv3`, `fc1`, `fc2`
with `.weight` (the Keras kernel) and `.bias`; the arrays are written exactly as Keras keeps
them (Conv2D kernels [kh, kw, in, out], Dense kernels [in, out], and the first Dense layer's
rows in Keras's channels-last flatten order), as float32. gradlab converts them:

    python3 scripts/keras_to_safetensors.py model.keras keras_seed_cnn.safetensors
    cargo run -p mnist-cnn --release -- import --from safetensors --layout keras keras_seed_cnn.safetensors

Needs TensorFlow (tf_keras or keras), numpy and safetensors (pip install safetensors).
A model with other layers or shapes is refused with a message naming the layer.
"""

import argparse
import os
import sys

SHAPES = [  # (name, kernel shape, bias shape) in layer order
    ("conv1", (3, 3, 1, 32), (32,)),
    ("conv2", (3, 3, 32, 64), (64,)),
    ("conv3", (3, 3, 64, 64), (64,)),
    ("fc1", (576, 64), (64,)),
    ("fc2", (64, 10), (10,)),
]


def seed_cnn_tensors(model):
    """{name: float32 array} of the seed CNN `model` (a Keras model), checked layer by layer."""
    import numpy as np

    weighted = [layer for layer in model.layers if layer.get_weights()]
    if len(weighted) != len(SHAPES):
        names = ", ".join(layer.name for layer in weighted)
        raise ValueError(f"expected the seed CNN's 5 weighted layers, found {len(weighted)}: {names}")
    out = {}
    for layer, (name, kernel_shape, bias_shape) in zip(weighted, SHAPES):
        weights = layer.get_weights()
        if len(weights) != 2:
            raise ValueError(f"layer {layer.name}: expected a kernel and a bias, found {len(weights)} arrays")
        kernel, bias = weights
        if kernel.shape != kernel_shape or bias.shape != bias_shape:
            raise ValueError(f"layer {layer.name}: kernel {kernel.shape} / bias {bias.shape}, "
                             f"the seed CNN's {name} has {kernel_shape} / {bias_shape}")
        out[f"{name}.weight"] = np.ascontiguousarray(kernel, dtype=np.float32)
        out[f"{name}.bias"] = np.ascontiguousarray(bias, dtype=np.float32)
    return out


def save(tensors, path):
    """Write `tensors` to `path` (refusing to overwrite), with the layout in the metadata."""
    from safetensors.numpy import save_file

    if os.path.exists(path):
        raise FileExistsError(f"{path} exists: not overwriting it")
    save_file(tensors, path, metadata={"layout": "keras", "producer": "scripts/keras_to_safetensors.py"})


def load_keras_model(path):
    try:
        import tf_keras as keras
    except ImportError:
        from tensorflow import keras
    return keras.models.load_model(path, compile=False)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="a saved Keras model (.keras or .h5) of the seed CNN")
    p.add_argument("out", help="the safetensors file to write")
    a = p.parse_args()
    try:
        save(seed_cnn_tensors(load_keras_model(a.model)), a.out)
    except (ValueError, OSError) as e:
        sys.exit(f"error: {e}")
    print(f"wrote {a.out} (keras layout)")


if __name__ == "__main__":
    main()
