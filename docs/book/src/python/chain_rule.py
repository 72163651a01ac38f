"""The chain rule on y = σ(w₂·σ(w₁·x)), in plain Python.

The hand computation of `calculus chain-rule` (crates/calculus/src/chain.rs), which gradlab then
checks against burn's autodiff; here the check is a central finite difference. A line this
script prints without a leading "# " is also part of a line gradlab prints
(tests/workspace/book.rs runs both and checks it).

    python3 docs/book/src/python/chain_rule.py

gradlab's command, whose output the test compares with this script's:

    cargo run -p calculus --release -- chain-rule
"""
import math


def sigmoid(t):
    return 1.0 / (1.0 + math.exp(-t))


# ANCHOR: chain
x, w1, w2 = 2.0, 3.0, 4.0
a = w1 * x
h = sigmoid(a)
b = w2 * h
y = sigmoid(b)
dy_db = y * (1 - y)  # σ′(b)
dh_da = h * (1 - h)  # σ′(a)
dy_dw2 = dy_db * h
dy_dw1 = dy_db * w2 * dh_da * x
# ANCHOR_END: chain

print(f"a = w₁·x = {a:.6f}   h = σ(a) = {h:.6f}   b = w₂·h = {b:.6f}   y = σ(b) = {y:.6f}")
print(f"dy/db = σ′(b) = y(1 − y) = {dy_db:.6f}")
print(f"dh/da = σ′(a) = h(1 − h) = {dh_da:.6f}")
print(f"dy/dw₂ = dy/db · h = {dy_db:.6f} · {h:.6f} = {dy_dw2:.8f}")
print(f"dy/dw₁ = dy/db · w₂ · dh/da · x = {dy_db:.6f} · {w2:g} · {dh_da:.6f} · {x:g} = {dy_dw1:.8f}")

# ANCHOR: check
eps = 1e-6
fd_w2 = (sigmoid((w2 + eps) * sigmoid(w1 * x)) - sigmoid((w2 - eps) * sigmoid(w1 * x))) / (2 * eps)
fd_w1 = (sigmoid(w2 * sigmoid((w1 + eps) * x)) - sigmoid(w2 * sigmoid((w1 - eps) * x))) / (2 * eps)
print(f"# finite differences: dy/dw₂ = {fd_w2:.8f}, dy/dw₁ = {fd_w1:.8f}")
# ANCHOR_END: check
