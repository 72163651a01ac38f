"""XOR: the single layer that fails, then a hidden layer trained by backpropagation, in NumPy.

The computations of `xor-backprop seed` and `xor-backprop train` (crates/xor-backprop/src/
model/manual.rs): X holds the two inputs and a constant 1 (the bias), one row per example; the
loss is ½ Σ (ŷ − y)². Weights start from NumPy's generator here and from Rust's in gradlab, so
the single layer's outputs (which forget their start) are printed by both, the trained hidden
network's only here. A line this script prints without a leading "# " is also part of a line
gradlab prints (tests/workspace/book.rs runs both and checks it).

    python3 docs/book/src/python/backpropagation.py

gradlab's command, whose output the test compares with this script's:

    cargo run -p xor-backprop --release -- seed
"""
import numpy as np

X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=float)
y = np.array([0, 1, 1, 0], dtype=float)
rng = np.random.default_rng(1)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


# ANCHOR: single_layer
w = rng.uniform(-1, 1, 3)
for _ in range(10000):
    l1 = sigmoid(X @ w)
    w += X.T @ ((y - l1) * l1 * (1 - l1))  # the seed's update rule
# ANCHOR_END: single_layer
for x, t, o in zip(X, y, sigmoid(X @ w)):
    print(f"x = ({x[0]:.0f}, {x[1]:.0f}) target {t:.0f} output {o:.4f}")


# ANCHOR: backprop
def forward(W1, w2):
    h = sigmoid(X @ W1)  # [4, 4]
    return h, sigmoid(h @ w2)  # ŷ: [4]


def gradients(W1, w2):
    h, out = forward(W1, w2)
    d_z2 = (out - y) * out * (1 - out)  # ∂L/∂z2 = (ŷ − y) · σ′(z2)
    d_w2 = h.T @ d_z2  # ∂L/∂w2 = hᵀ · ∂L/∂z2
    d_z1 = np.outer(d_z2, w2) * h * (1 - h)  # ∂L/∂z1 = ∂L/∂z2 · w2ᵀ ⊙ σ′(z1)
    return X.T @ d_z1, d_w2  # ∂L/∂W1 = Xᵀ · ∂L/∂z1
# ANCHOR_END: backprop


def loss(W1, w2):
    return 0.5 * np.sum((forward(W1, w2)[1] - y) ** 2)


# ANCHOR: check
W1, w2 = rng.uniform(-1, 1, (3, 4)), rng.uniform(-1, 1, 4)
g1, g2 = gradients(W1, w2)
eps, worst = 1e-4, 0.0
for W, g in [(W1, g1), (w2, g2)]:
    for idx in np.ndindex(W.shape):
        W[idx] += eps
        up = loss(W1, w2)
        W[idx] -= 2 * eps
        down = loss(W1, w2)
        W[idx] += eps
        fd = (up - down) / (2 * eps)
        worst = max(worst, abs(fd - g[idx]) / max(abs(fd), abs(g[idx]), 1e-12))
print(f"# largest relative error, hand vs finite difference: {worst:.2e}")
# ANCHOR_END: check

for _ in range(10000):
    g1, g2 = gradients(W1, w2)
    W1 -= g1
    w2 -= g2
outputs = ", ".join(f"{o:.4f}" for o in forward(W1, w2)[1])
print(f"# hidden layer after 10000 steps of lr 1: outputs {outputs} (targets 0, 1, 1, 0)")
