"""The surface f(x, y) = sin(√(x² + y²)) and its gradient, in Python with NumPy.

The computation of `calculus surface` (crates/calculus/src/surface.rs). A line this script
prints without a leading "# " is also part of a line gradlab prints (tests/workspace/book.rs
runs both and checks it).

    python3 docs/book/src/python/surface.py

gradlab's command, whose output the test compares with this script's:

    cargo run -p calculus --release -- surface
"""
import numpy as np


# ANCHOR: gradient
def f(x, y):
    return np.sin(np.sqrt(x**2 + y**2))


def gradient(x, y):  # the chain rule: ∂f/∂x = cos(r)·x/r, ∂f/∂y = cos(r)·y/r
    r = np.sqrt(x**2 + y**2)
    return np.cos(r) * x / r, np.cos(r) * y / r
# ANCHOR_END: gradient


# ANCHOR: check
h = 1e-6
for x, y in [(1, 2), (-3, 0.5)]:
    gx, gy = gradient(x, y)
    print(f"∇f({x}, {y}) = ({gx:.5f}, {gy:.5f}) by the chain rule")
    fx = (f(x + h, y) - f(x - h, y)) / (2 * h)
    fy = (f(x, y + h) - f(x, y - h)) / (2 * h)
    print(f"# ∇f({x}, {y}) = ({fx:.5f}, {fy:.5f}) by central finite differences")
# ANCHOR_END: check
