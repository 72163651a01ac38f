"""Taylor polynomials of eˣ around 0, in Python with NumPy.

The computation of `calculus taylor` (crates/calculus/src/taylor.rs): Pₙ(x) = Σ_{k<n} xᵏ/k!
against eˣ on [−2, 2]. A line this script prints without a leading "# " is also part of a line
gradlab prints (tests/workspace/book.rs runs both and checks it).

    python3 docs/book/src/python/taylor.py

gradlab's command, whose output the test compares with this script's:

    cargo run -p calculus --release -- taylor
"""
import math

import numpy as np


# ANCHOR: polynomial
def polynomial(x, terms):
    return sum(x**k / math.factorial(k) for k in range(terms))
# ANCHOR_END: polynomial


xs = np.linspace(-2.0, 2.0, 201)
for n in [1, 3, 5]:
    error = np.max(np.abs(np.exp(xs) - polynomial(xs, n)))
    print(f"{n} term(s): max |eˣ − Pₙ(x)| on [−2, 2] = {error:.6f}")
print("# the error at x = 2 is the first term left out and those after it: 2ⁿ/n! + …")
