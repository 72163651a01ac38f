#!/usr/bin/env python3
"""Load `mnist-cnn export --layout pytorch` output into the PyTorch seed model and score it.

`torch.nn.Module.load_state_dict` (strict) of scripts/reference.py's nn.Sequential seed model
takes the file as is; the script then prints PyTorch's accuracy on every image of mnist-5k
(a transposed or misplaced tensor gives chance, ~10 %):

    cargo run -p mnist-cnn --release -- export --layout pytorch cnn.safetensors
    python3 scripts/check_pytorch_export.py cnn.safetensors

Needs torch, numpy and safetensors.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference  # noqa: E402  (the digits)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("file", help="a safetensors file written with --layout pytorch")
    a = p.parse_args()
    import numpy as np
    import torch
    from safetensors.torch import load_file
    from torch import nn

    model = reference.torch_seed_model(nn)
    model.load_state_dict(load_file(a.file))  # strict: every name and shape must match
    pixels, labels = reference.read_digits(reference.DEFAULT_DATA)
    x = torch.tensor(np.array(pixels, dtype=np.float32).reshape(-1, 1, 28, 28) / 255.0)
    with torch.no_grad():
        predicted = model(x).argmax(1).numpy()
    right = int((predicted == np.array(labels)).sum())
    print(f"{a.file}: load_state_dict accepted it; PyTorch {torch.__version__} classifies "
          f"{right} of {len(labels)} mnist-5k images right ({100 * right / len(labels):.2f} %)")


if __name__ == "__main__":
    main()
