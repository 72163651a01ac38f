"""Valid convolution with the Sobel-X filter and its kernel gradient, in Python with NumPy.

The computation of `calculus conv2d` (crates/calculus/src/conv.rs), which gradlab checks
against burn's conv2d and autodiff; here the gradient is checked by a finite difference. A line
this script prints without a leading "# " is also part of a line gradlab prints
(tests/workspace/book.rs runs both and checks it).

    python3 docs/book/src/python/convolution.py

gradlab's command, whose output the test compares with this script's:

    cargo run -p calculus --release -- conv2d
"""
import numpy as np

SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])

# The 10×10 example: dark left half, bright right half, a bright diagonal stroke.
i, j = np.indices((10, 10))
image = np.where(i == j, 1.0, np.where(j >= 5, 0.8, 0.0))


# ANCHOR: correlate
def correlate(image, k):  # out[i][j] = Σᵤᵥ image[i + u][j + v] · K[u][v]
    h, w = image.shape[0] - 2, image.shape[1] - 2
    return np.array([[np.sum(image[i:i + 3, j:j + 3] * k) for j in range(w)] for i in range(h)])


def kernel_gradient(image):  # ∂(Σ out)/∂K[u][v] = Σᵢⱼ image[i + u][j + v]
    h, w = image.shape[0] - 2, image.shape[1] - 2
    return np.array([[image[u:u + h, v:v + w].sum() for v in range(3)] for u in range(3)])
# ANCHOR_END: correlate


def as_list(a, decimals):
    return "[" + ", ".join(f"{round(v, decimals):.1f}" for v in a) + "]"


out = correlate(image, SOBEL_X)
print(f"output row 0 (hand): {as_list(out[0], 2)}")
g = kernel_gradient(image)
print("∂(Σ out)/∂K by hand: [" + ", ".join(as_list(row, 4) for row in g) + "]")

# ANCHOR: check
eps = 1e-6
fd = np.zeros((3, 3))
for u in range(3):
    for v in range(3):
        k = SOBEL_X.copy()
        k[u, v] += eps
        up = correlate(image, k).sum()
        k[u, v] -= 2 * eps
        fd[u, v] = (up - correlate(image, k).sum()) / (2 * eps)
print(f"# largest |finite difference − hand| over the 9 kernel weights: {np.max(np.abs(fd - g)):.2e}")
# ANCHOR_END: check
