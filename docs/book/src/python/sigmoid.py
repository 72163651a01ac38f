"""The sigmoid and its derivative, in Python with NumPy.

The computation of `calculus sigmoid` (crates/calculus/src/sigmoid.rs), written the way a
NumPy lesson writes it. A line this script prints without a leading "# " is also part of a line
gradlab prints (tests/workspace/book.rs runs both and checks it).

    python3 docs/book/src/python/sigmoid.py

gradlab's command, whose output the test compares with this script's:

    cargo run -p calculus --release -- sigmoid
"""
import numpy as np


# ANCHOR: sigmoid
def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def sigmoid_prime(x):  # the formula: σ′ = σ(1 − σ)
    s = sigmoid(x)
    return s * (1.0 - s)
# ANCHOR_END: sigmoid


# ANCHOR: check
for x in [-10, -5, -2, 0, 2, 5, 10]:
    print(f"x = {x}: σ = {sigmoid(x):.6f}")

xs = np.linspace(-10.0, 10.0, 201)
h = 1e-5
finite_difference = (sigmoid(xs + h) - sigmoid(xs - h)) / (2 * h)
error = np.max(np.abs(finite_difference - sigmoid_prime(xs)))
print(f"# largest |finite difference − σ(1−σ)| over {len(xs)} points: {error:.2e}")
# ANCHOR_END: check
