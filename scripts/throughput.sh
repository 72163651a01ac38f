#!/usr/bin/env bash
# Interleaved training-throughput comparison of the backends on the seed CNN (batch 32).
# Each round runs every backend once for 2 epochs and keeps the second epoch's images/s
# (the first includes warm-up: kernel compilation, autotuning); the summary is the median
# over rounds. Usage: scripts/throughput.sh [ROUNDS] [BACKENDS...]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}; shift || true
backends=("${@:-flex wgpu}")
read -r -a backends <<< "${backends[*]}"
bin="${CARGO_TARGET_DIR:-target}/release/mnist-cnn"
# ndarray is an opt-in backend (cargo feature `ndarray`): built in only when asked for.
features=()
[[ " ${backends[*]} " == *" ndarray "* ]] && features=(--features ndarray)
cargo build -q --release -p mnist-cnn "${features[@]}"
out=$(mktemp -d)
declare -A results
for r in $(seq "$rounds"); do
  for b in "${backends[@]}"; do
    case $b in flex) n=4000 ;; *) n=640 ;; esac
    line=$("$bin" --backend "$b" --out "$out/$b" --test-limit 100 train --epochs 2 --train-limit "$n" \
      | tee "$out/$b-$r.log" | grep '^epoch 2/2')
    ips=$(sed -E 's/.* ([0-9]+) img\/s/\1/' <<< "$line")
    adapter=$(grep '^backend:' "$out/$b-$r.log")
    echo "round $r  $b  $ips img/s   ($adapter)"
    results[$b]+="$ips "
  done
done
echo
echo "median training images/s at batch 32 over $rounds rounds ($(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)):"
for b in "${backends[@]}"; do
  med=$(tr ' ' '\n' <<< "${results[$b]}" | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "  $b: $med   (all: ${results[$b]})"
done
rm -rf "$out"
