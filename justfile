# Thin recipes over cargo. `just` is optional: every recipe is one cargo command you can type.
# Install it with `cargo install just` (or `pip install rust-just`).

# Train the seed CNN (the main job). Extra arguments go to mnist-cnn, e.g. `just run --backend wgpu`.
run *ARGS:
    cargo run -p mnist-cnn --release -- {{ARGS}}

# The test suite exactly as CI runs it (`.ci/run test`: CI's settings and its clippy-linted
# builds, so nothing is skipped — it installs lavapipe, Chromium and the onnxruntime venv where
# missing); the README's `cargo test --release --workspace` is its first phase.
test:
    bash .ci/run test

# Everything CI runs, including system packages.
ci:
    bash .ci/run

# Formatting and the builds CI lints (clippy inside them, warnings as errors: the default
# build, the remote,ndarray build; a clippy check of every library and binary with spirv).
lint:
    bash .ci/run lint

# Build the gradlab book into docs/book/build (needs mdBook: `cargo install mdbook`).
book:
    mdbook build docs/book

# Install the full Fashion-MNIST data set (Debian package, 60,000 + 10,000 images).
fashion-mnist:
    apt-get install -y dataset-fashion-mnist

# Train on Fashion-MNIST (needs `just fashion-mnist` first).
train-fashion *ARGS: fashion-mnist
    cargo run -p mnist-cnn --release -- --dataset fashion-mnist {{ARGS}}

# Install lavapipe (software Vulkan) so the wgpu/vulkan backends run without a GPU.
lavapipe:
    apt-get install -y libvulkan1 mesa-vulkan-drivers

# Compare every backend on every model (timings, batch sweep, conformance). `just bench --quick`.
bench *ARGS:
    cargo run -p bench --release -- {{ARGS}}

# Time the seed CNN in TensorFlow-Keras / PyTorch where installed (read by `just bench`).
reference:
    python3 scripts/reference.py

# Reference frameworks and the bench interleaved, 5 rounds (a Python with TF / PyTorch).
versus *ARGS:
    cargo build --release --workspace
    python3 scripts/versus_reference.py {{ARGS}}

# Train the sentiment model; `just sentiment --config configs/sentiment-nb.toml` for the NB model.
sentiment *ARGS:
    cargo run -p sentiment --release -- {{ARGS}}

# Train the character RNN (about 4 minutes on 2 cores).
rnn *ARGS:
    cargo run -p rnn --release -- {{ARGS}}
