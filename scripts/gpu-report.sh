#!/usr/bin/env bash
# The GPU report, in one command: what GPU(s) this machine has, then gradlab's bench, a default
# mnist-cnn run on wgpu, Fashion-MNIST on wgpu (when its data is installed) and PyTorch's seed-CNN
# step on CUDA (when a torch with CUDA is installed), each under its own time limit so the whole
# report ends within 9 minutes even when every step runs out of time (a device command's
# limit is 10), and in a few minutes on a modern GPU. Writes one folder (report.md, every step's log, the
# bench's report.json/results.csv/charts) and prints where.
#
#   scripts/gpu-report.sh [--dry-run] [--bin DIR] [--out DIR] [--data FILE]
#
# --bin: the folder holding the `bench` and `mnist-cnn` binaries (default: this script's own
#   folder when it holds them, as in a kit from scripts/gpu-kit.sh; else $CARGO_TARGET_DIR/release,
#   else target/release). No cargo and no network are needed.
# --out: the report folder (default docs/gpu/<date>-<gpu name>, the GPU's name from nvidia-smi,
#   else "no-nvidia-gpu"); it must not exist yet (nothing is overwritten).
# --data: the mnist-5k CSV for reference.py (default: beside this script in a kit, else
#   datasets/mnist-5k/mnist_5k.csv.gz).
# --dry-run: print the plan (each step, its command and time limit) and stop.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
dry=0 bin="" out="" data=""
while (($#)); do
  case "$1" in
    --dry-run) dry=1 ;;
    --bin) bin="${2:?--bin needs a folder}"; shift ;;
    --out) out="${2:?--out needs a folder}"; shift ;;
    --data) data="${2:?--data needs a file}"; shift ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-report.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if [ -z "$bin" ]; then
  for d in "$here" "${CARGO_TARGET_DIR:-}/release" "$here/../target/release"; do
    if [ -x "$d/bench" ] && [ -x "$d/mnist-cnn" ]; then bin="$d"; break; fi
  done
fi
if [ -z "$data" ]; then
  for f in "$here/datasets/mnist-5k/mnist_5k.csv.gz" "$here/../datasets/mnist-5k/mnist_5k.csv.gz"; do
    if [ -f "$f" ]; then data="$f"; break; fi
  done
fi
gpu_name="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n1)"
slug="$(printf '%s' "${gpu_name:-no-nvidia-gpu}" | tr '[:upper:]' '[:lower:]' | tr -cs 'a-z0-9' '-' | sed 's/^-//; s/-$//')"
out="${out:-docs/gpu/$(date -u +%Y-%m-%d)-$slug}"

# The plan: name | time limit (s) | command. Bench runs one model at a time, so a model that
# runs out of time leaves the others' results.
bench_models=(mnist-cnn sentiment rnn xor-backprop)
plan=()
plan+=("machine|20|machine_facts")
plan+=("torch-cuda-32|50|python3 $here/reference.py --device cuda --batch 32 --reps 50 --data $data --out $out/reference-32.json")
plan+=("torch-cuda-256|50|python3 $here/reference.py --device cuda --batch 256 --reps 30 --data $data --out $out/reference-256.json")
for m in "${bench_models[@]}"; do
  ref="" models="$m" limit=60
  # The CNN twice: burn's stock layers and the fast path (fastconv's CubeCL kernels on
  # wgpu/vulkan), side by side in one run.
  [ "$m" = mnist-cnn ] && ref="--reference $out/reference-32.json" models="mnist-cnn,mnist-cnn-fast" limit=90
  plan+=("bench-$m|$limit|$bin/bench --backends flex,wgpu,vulkan,spirv --models $models --batch-sizes 1,32,256,1024 --out $out/bench-$m $ref")
done
plan+=("mnist-cnn-auto|30|$bin/mnist-cnn --backend auto --out $out/runs-auto train --epochs 1 --train-limit 64 --test-limit 64")
plan+=("mnist-cnn-wgpu|75|$bin/mnist-cnn --backend wgpu --out $out/runs-wgpu")
plan+=("fashion-mnist-wgpu|60|$bin/mnist-cnn --backend wgpu --dataset fashion-mnist --out $out/runs-fashion train --epochs 5")

total=0
for p in "${plan[@]}"; do total=$((total + $(cut -d'|' -f2 <<<"$p"))); done
echo "gpu-report: binaries ${bin:-<none found>}, data ${data:-<none found>}"
echo "gpu-report: report folder $out"
echo "gpu-report: ${#plan[@]} steps, at most $total s in all:"
for p in "${plan[@]}"; do
  IFS='|' read -r name limit cmd <<<"$p"
  printf '  %-20s %4s s  %s\n' "$name" "$limit" "$cmd"
done
if ((dry)); then exit 0; fi

[ -n "$bin" ] || { echo "gpu-report: no bench/mnist-cnn binaries (build them, or pass --bin DIR)" >&2; exit 1; }
[ -e "$out" ] && { echo "gpu-report: $out exists; gpu-report writes a new folder (pass --out)" >&2; exit 1; }
mkdir -p "$out"

machine_facts() {
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "kernel: $(uname -srm)"
  echo "cpus: $(nproc)"
  grep -m1 'model name' /proc/cpuinfo 2>/dev/null
  grep -m1 MemTotal /proc/meminfo 2>/dev/null
  [ -f "$here/KIT.txt" ] && { echo "--- kit"; cat "$here/KIT.txt"; }
  echo "--- nvidia-smi"
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv 2>&1 || echo "(no nvidia-smi)"
  echo "--- Vulkan loader"
  { ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null; } | grep -m2 libvulkan || echo "(no libvulkan in ldconfig)"
  echo "--- vulkaninfo --summary"
  vulkaninfo --summary 2>&1 | sed -n '/Devices:/,$p' | head -n 40 || true
  command -v vulkaninfo >/dev/null || echo "(no vulkaninfo)"
  echo "--- python"
  python3 -c 'import sys; print(sys.version.split()[0])
try:
    import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
except ImportError:
    print("torch not installed")' 2>&1 || echo "(no python3)"
}

# Run every step with its limit; record name, status and seconds.
status=()
for p in "${plan[@]}"; do
  IFS='|' read -r name limit cmd <<<"$p"
  # No reference file (no python3, or reference.py stopped): the bench runs without one.
  if [[ "$cmd" == *" --reference "* ]] && [ ! -f "${cmd##* --reference }" ]; then cmd="${cmd% --reference *}"; fi
  echo "gpu-report: $name (limit $limit s)"
  start=$SECONDS
  if [ "$cmd" = machine_facts ]; then
    machine_facts >"$out/$name.log" 2>&1
    rc=$?
  else
    # shellcheck disable=SC2086 # the plan's commands are word lists
    timeout --kill-after=5 "$limit" $cmd >"$out/$name.log" 2>&1
    rc=$?
  fi
  secs=$((SECONDS - start))
  case $rc in
    0) st="ok" ;;
    124|137) st="stopped at its time limit" ;;
    *) # The step's own error line when it printed one, else its last line.
       why="$(grep -E 'error|no CUDA device|not installed' "$out/$name.log" | tail -n1)"
       [ -n "$why" ] || why="$(grep -v '^\s*$' "$out/$name.log" | tail -n1)"
       st="failed (exit status $rc): $(cut -c1-200 <<<"$why")" ;;
  esac
  status+=("$name|$st|$secs")
  echo "gpu-report: $name: $st, $secs s"
done

# The report keeps figures, not models: the runs' weight files go (a few hundred KB each).
find "$out" -name '*.bpk' -delete

{
  echo "# GPU report: ${gpu_name:-no NVIDIA GPU seen}"
  echo
  echo "Made by \`scripts/gpu-report.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); binaries from \`$bin\`."
  echo
  echo "| step | result | seconds |"
  echo "|---|---|---|"
  for s in "${status[@]}"; do IFS='|' read -r n st secs <<<"$s"; echo "| $n | $st | $secs |"; done
  echo
  echo "## Machine"
  echo; echo '```'; cat "$out/machine.log"; echo '```'
  for n in torch-cuda-32 torch-cuda-256; do
    echo; echo "## $n (scripts/reference.py --device cuda)"; echo; echo '```'; tail -n 5 "$out/$n.log"; echo '```'
  done
  for m in "${bench_models[@]}"; do
    echo; echo "## bench: $m"; echo; echo '```'; grep -v '^\s*$' "$out/bench-$m.log" | tail -n 60; echo '```'
  done
  for n in mnist-cnn-auto mnist-cnn-wgpu fashion-mnist-wgpu; do
    echo; echo "## $n"; echo; echo '```'
    grep -E 'backend:|adapter|convolutions:|epoch [0-9]+/|test accuracy|error' "$out/$n.log" | tail -n 20
    echo '```'
  done
} >"$out/report.md"
echo "gpu-report: wrote $out/report.md"
