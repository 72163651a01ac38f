"""The area under the normal density, in plain Python.

The computation of `calculus normal` (crates/calculus/src/normal.rs): P(a < X < b) for
X ~ N(μ, σ²) by the trapezoid and Simpson rules, and exactly by the error function. gradlab
samples the density in float32 on its device; this script in float64, so only the exact value is
printed by both. A line this script prints without a leading "# " is also part of a line gradlab
prints (tests/workspace/book.rs runs both and checks it).

    python3 docs/book/src/python/normal.py

gradlab's command, whose output the test compares with this script's:

    cargo run -p calculus --release -- normal
"""
import math


# ANCHOR: rules
def density(x, mu, sigma):
    z = (x - mu) / sigma
    return math.exp(-0.5 * z * z) / (sigma * math.sqrt(2 * math.pi))


def trapezoid(ys, h):
    return h * (0.5 * ys[0] + sum(ys[1:-1]) + 0.5 * ys[-1])


def simpson(ys, h):  # n = len(ys) - 1 intervals, n even
    return h / 3 * (ys[0] + 4 * sum(ys[1:-1:2]) + 2 * sum(ys[2:-1:2]) + ys[-1])
# ANCHOR_END: rules


a, b, mu, sigma = -1, 1, 0, 1
exact = 0.5 * (math.erf((b - mu) / (sigma * math.sqrt(2))) - math.erf((a - mu) / (sigma * math.sqrt(2))))
print(f"P({a} < X < {b}), X ~ N({mu}, {sigma}²): by the error function {exact:.10f}")
for n in [2, 4, 8, 16, 32, 64]:
    h = (b - a) / n
    ys = [density(a + i * h, mu, sigma) for i in range(n + 1)]
    print(f"# n = {n:>3}: trapezoid {trapezoid(ys, h):.10f}, Simpson {simpson(ys, h):.10f}")
