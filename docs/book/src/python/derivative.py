"""A function and its derivative, in Python with NumPy.

The computation of `calculus derivative` (crates/calculus/src/derivative.rs). A line this
script prints without a leading "# " is also part of a line gradlab prints
(tests/workspace/book.rs runs both and checks it).

    python3 docs/book/src/python/derivative.py

gradlab's command, whose output the test compares with this script's:

    cargo run -p calculus --release -- derivative
"""
import numpy as np


# ANCHOR: function
def f(x):
    return x**2 + 5 * x + 6


def f_prime(x):  # the power rule
    return 2 * x + 5
# ANCHOR_END: function


# ANCHOR: check
for x in [-10, -5, -2.5, 0, 5]:
    print(f"x = {x}: f = {f(x):.3f}")

xs = np.linspace(-10.0, 5.0, 151)
h = 1e-4
finite_difference = (f(xs + h) - f(xs - h)) / (2 * h)
error = np.max(np.abs(finite_difference - f_prime(xs)))
print(f"# largest |finite difference − (2x + 5)| over {len(xs)} points: {error:.2e}")
# ANCHOR_END: check
