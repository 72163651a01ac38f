"""Partial derivatives of f(x, y) = x² + 2xy + y², in plain Python.

The default example of `calculus partial` (crates/calculus/src/partial.rs), which derives the
partials symbolically and checks them against autodiff; here they are written by hand and
checked against finite differences. A line this script prints without a leading "# " is also
part of a line gradlab prints (tests/workspace/book.rs runs both and checks it).

    python3 docs/book/src/python/partial.py

gradlab's command, whose output the test compares with this script's:

    cargo run -p calculus --release -- partial
"""


# ANCHOR: partials
def f(x, y):
    return x**2 + 2 * x * y + y**2


def df_dx(x, y):  # y held constant
    return 2 * x + 2 * y


def df_dy(x, y):  # x held constant
    return 2 * x + 2 * y
# ANCHOR_END: partials


# ANCHOR: check
x, y, h = 1.0, 2.0, 1e-6
print(f"at x = 1, y = 2: f = {f(x, y):g}")
print(f"# ∂f/∂x = 2x + 2y = {df_dx(x, y):g}, ∂f/∂y = 2x + 2y = {df_dy(x, y):g} by hand")
print(f"# ∂f/∂x by finite difference: {(f(x + h, y) - f(x - h, y)) / (2 * h):.6f}")
print(f"# ∂f/∂y by finite difference: {(f(x, y + h) - f(x, y - h)) / (2 * h):.6f}")
# ANCHOR_END: check
