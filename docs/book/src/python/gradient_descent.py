"""Gradient descent on f(x) = x² + 5x + 6, in plain Python.

The computation of `calculus gradient-descent` (crates/calculus/src/descent.rs), with the
gradient from the formula where gradlab takes it from burn's autodiff. A line this script prints
without a leading "# " is also part of a line gradlab prints (tests/workspace/book.rs runs both
and checks it).

    python3 docs/book/src/python/gradient_descent.py

gradlab's command, whose output the test compares with this script's:

    cargo run -p calculus --release -- gradient-descent
"""


def f(x):
    return x**2 + 5 * x + 6


def f_prime(x):
    return 2 * x + 5


# ANCHOR: descent
x, lr, steps = 0.0, 0.1, 100
for step in range(steps + 1):
    if step < 5 or step % 20 == 0:
        print(f"step {step}: x = {x:.5f}  f(x) = {f(x):.5f}")
    x -= lr * f_prime(x)
# ANCHOR_END: descent
print("# the minimum: x = −2.5, f = −0.25")
