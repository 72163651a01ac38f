#!/usr/bin/env bash
# Build the GPU kit: everything scripts/gpu-report.sh needs on a machine with a GPU but without
# cargo or network — the release binaries of `bench` and `mnist-cnn` (stripped by the release
# profile; the small data sets are built into them), gpu-report.sh, reference.py, the mnist-5k
# CSV reference.py times on, and KIT.txt (commit, toolchain, sizes, SHA-256 of each file) — as a
# folder and as one xz-compressed tar file, and print their sizes.
#
#   scripts/gpu-kit.sh [--list] [--out DIR] [--features F]
#
# --list: print the files the kit holds and where each comes from, build nothing.
# --features: cargo features of the binaries, e.g. `spirv` (CubeCL's SPIR-V compiler: the
#   report's `spirv` bench backend; in such a build wgpu/vulkan compile through SPIR-V too).
# --out: the kit folder (default dist/gpu-kit; the archive is DIR.tar.xz beside it). An existing
#   kit folder and archive are replaced (they are build outputs, made only by this script).
#
# On the GPU machine:  tar -xJf gpu-kit.tar.xz && gpu-kit/gpu-report.sh --out REPORT_DIR
# (no xz there: python3 -c 'import tarfile; tarfile.open("gpu-kit.tar.xz").extractall()').
set -euo pipefail
cd "$(dirname "$0")/.."

list=0 out="dist/gpu-kit" features=()
while (($#)); do
  case "$1" in
    --list) list=1 ;;
    --out) out="${2:?--out needs a folder}"; shift ;;
    --features) features=(--features "${2:?--features needs a list}"); shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-kit.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

release="${CARGO_TARGET_DIR:-target}/release"
# kit path | source
files=(
  "bench|$release/bench"
  "mnist-cnn|$release/mnist-cnn"
  "gpu-report.sh|scripts/gpu-report.sh"
  "reference.py|scripts/reference.py"
  "datasets/mnist-5k/mnist_5k.csv.gz|datasets/mnist-5k/mnist_5k.csv.gz"
  "datasets/mnist-5k/README.md|datasets/mnist-5k/README.md"
)
if ((list)); then
  echo "gpu-kit: $out (and $out.tar.xz) would hold:"
  for f in "${files[@]}"; do
    IFS='|' read -r dst src <<<"$f"
    state="missing: built by cargo build --release --workspace"
    [ -e "$src" ] && state="$(du -h "$src" | cut -f1)"
    case "$src" in scripts/*|datasets/*) [ -e "$src" ] || state="missing" ;; esac
    printf '  %-36s <- %s (%s)\n' "$dst" "$src" "$state"
  done
  echo "  KIT.txt                              <- written here (commit, toolchain, sizes, SHA-256)"
  exit 0
fi

start=$SECONDS
cargo build --release --workspace ${features[@]+"${features[@]}"}
rm -rf "$out" "$out.tar.xz"
mkdir -p "$out/datasets/mnist-5k"
for f in "${files[@]}"; do
  IFS='|' read -r dst src <<<"$f"
  [ -e "$src" ] || { echo "gpu-kit: $src is missing" >&2; exit 1; }
  cp "$src" "$out/$dst"
done
{
  echo "gradlab GPU kit, built $(date -u '+%Y-%m-%d %H:%M UTC') on $(uname -m)"
  echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "toolchain: $(rustc --version)"
  echo "profile: release (strip = true); cargo features: ${features[1]:-none}"
  (cd "$out" && find . -type f ! -name KIT.txt | sort | xargs sha256sum | while read -r sum path; do
    echo "$sum  $(stat -c %s "$path") bytes  ${path#./}"
  done)
} >"$out/KIT.txt"
tar -C "$(dirname "$out")" -cf - "$(basename "$out")" | xz -9 -T2 >"$out.tar.xz"
folder=$(du -sb "$out" | cut -f1)
archive=$(stat -c %s "$out.tar.xz")
echo "gpu-kit: $out: $((folder / 1048576)) MiB ($folder bytes)"
echo "gpu-kit: $out.tar.xz: $((archive / 1048576)) MiB ($archive bytes); built in $((SECONDS - start)) s"
if ((archive > 48 * 1048576)); then
  echo "gpu-kit: warning: the archive is over 48 MiB (the device tool carries 64 MiB in all)" >&2
fi
