"""The seed's Elman RNN step, and backpropagation through time checked by finite differences,
in NumPy (min-char-rnn's notation).

The computations of `rnn forward` (the seed's single step: input 2, hidden 3, output 2) and of
the hand-written BPTT of crates/rnn/src/manual.rs, on a short random sequence. Weights come from
NumPy's generator here and from Rust's in gradlab, so only the formulas are printed by both. A
line this script prints without a leading "# " is also part of a line gradlab prints
(tests/workspace/book.rs runs both and checks it).

    python3 docs/book/src/python/rnn.py

gradlab's command, whose output the test compares with this script's:

    cargo run -p rnn --release -- forward
"""
import numpy as np

rng = np.random.default_rng(42)

# ANCHOR: step
Wxh = rng.normal(0, 0.01, (3, 2))
Whh = rng.normal(0, 0.01, (3, 3))
Why = rng.normal(0, 0.01, (2, 3))
x = rng.normal(0, 1, (2, 1))
h_prev = np.zeros((3, 1))
h = np.tanh(Wxh @ x + Whh @ h_prev)
y = Why @ h
# ANCHOR_END: step
print("h = tanh(Wxh·x + Whh·h_prev), h_prev = 0")
print("y = Why·h")
print(f"# h = {h.ravel().round(6).tolist()}, y = {y.ravel().round(6).tolist()}")

# ANCHOR: bptt
V, H, T = 5, 8, 6  # vocabulary, hidden units, steps
P = {"Wxh": rng.normal(0, 0.5, (H, V)), "Whh": rng.normal(0, 0.5, (H, H)),
     "Why": rng.normal(0, 0.5, (V, H)), "bh": np.zeros((H, 1)), "by": np.zeros((V, 1))}
inputs, targets = rng.integers(0, V, T), rng.integers(0, V, T)


def loss_and_gradients(P):
    xs, hs, ps, loss = {}, {-1: np.zeros((H, 1))}, {}, 0.0
    for t in range(T):  # forward through time
        xs[t] = np.zeros((V, 1))
        xs[t][inputs[t]] = 1
        hs[t] = np.tanh(P["Wxh"] @ xs[t] + P["Whh"] @ hs[t - 1] + P["bh"])
        logits = P["Why"] @ hs[t] + P["by"]
        ps[t] = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        loss -= np.log(ps[t][targets[t], 0])  # softmax cross-entropy
    g = {k: np.zeros_like(v) for k, v in P.items()}
    dh_next = np.zeros((H, 1))
    for t in reversed(range(T)):  # backward through time
        dy = ps[t].copy()
        dy[targets[t]] -= 1  # ∂L/∂logits = p − onehot(target)
        g["Why"] += dy @ hs[t].T
        g["by"] += dy
        dh = P["Why"].T @ dy + dh_next  # from the output and from step t + 1
        draw = (1 - hs[t] ** 2) * dh  # through tanh
        g["bh"] += draw
        g["Wxh"] += draw @ xs[t].T
        g["Whh"] += draw @ hs[t - 1].T
        dh_next = P["Whh"].T @ draw
    return loss, g
# ANCHOR_END: bptt

# ANCHOR: check
_, g = loss_and_gradients(P)
eps, worst = 1e-5, 0.0
for name, W in P.items():
    for idx in np.ndindex(W.shape):
        W[idx] += eps
        up = loss_and_gradients(P)[0]
        W[idx] -= 2 * eps
        down = loss_and_gradients(P)[0]
        W[idx] += eps
        fd = (up - down) / (2 * eps)
        worst = max(worst, abs(fd - g[name][idx]) / max(abs(fd) + abs(g[name][idx]), 1e-10))
print(f"# largest relative error, BPTT by hand vs finite difference: {worst:.2e}")
# ANCHOR_END: check
