#!/usr/bin/env bash
# Static resource check of the CUDA kernels, no GPU needed (step 2 of scripts/gpu_check.sh): compiles the kernels'
# translation unit once per architecture with `nvcc -cubin --resource-usage` (the compiler's own report:
# registers, spill bytes, stack frame, static shared memory per kernel), prints one table, and FAILS
# (exit 1) on any register spill (spilled values go to local memory, i.e. DRAM), on more than the per-block
# register file (registers x threads > 64 K) or on more than 48 KB of static shared memory. A stack frame
# (a local array indexed at run time) is reported, not failed: it is the kernel's design, not the compiler's.
# The occupancy columns are what those numbers allow per SM (before dynamic shared memory):
#   warps/SM = min(64, floor(64K / per-warp registers rounded up to 256), by shared memory, 32 blocks)
#
# usage: scripts/cuda_resources.sh [--nvcc NVCC] [--archs "80;90" or 80,90] [--root SOURCE_TREE]
#   --root: the source tree whose kernels are checked (default: this script's tree)
# Run by ctest as test_cuda_resources in CUDA builds (tests/kernels/tests.cmake), with the build's nvcc
# and RPCT_CUDA_ARCHS. Exit codes: 0 within limits, 1 a limit exceeded, 2 usage or compile error.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
nvcc="${CUDACXX:-nvcc}"
archs="80;90"
root="$here"
while [ $# -gt 0 ]; do
  case "$1" in
    --nvcc) nvcc="$2"; shift 2 ;;
    --archs) archs="${2//,/;}"; shift 2 ;;
    --root) root="$(cd "$2" && pwd)"; shift 2 ;;
    *) echo "cuda_resources.sh: unknown argument '$1' (usage: --nvcc NVCC --archs \"80;90\" --root DIR)" >&2; exit 2 ;;
  esac
done
source="$root/kernels/rpc_attention/rpc_attention_launch.cu"
command -v "$nvcc" > /dev/null || { echo "cuda_resources.sh: nvcc not found ('$nvcc')" >&2; exit 2; }
[ -f "$source" ] || { echo "cuda_resources.sh: no source file $source" >&2; exit 2; }

# Threads per block: every kernel is launched and bounded (__launch_bounds__) with kThreads.
threads=$(sed -n 's/^constexpr int kThreads = \([0-9]*\);.*/\1/p' "$root/kernels/rpc_attention/rpc_attention_kernels.cuh")
[ -n "$threads" ] || { echo "cuda_resources.sh: kThreads not found in rpc_attention_kernels.cuh" >&2; exit 2; }

# Per-SM and per-block limits of compute capability 8.0 and 9.0 (CUDA C Programming Guide, table
# "Technical Specifications per Compute Capability"): 64 K 32-bit registers per SM and per block, 64 warps
# and 32 blocks per SM, 48 KB static shared memory per block; shared memory per SM 164 KB (8.0) / 228 KB
# (9.0), of which 1 KB per block is reserved by the system.
kRegsPerSm=65536
kStaticSmemPerBlock=49152
smem_per_sm() { case "$1" in 80) echo 167936 ;; 86|89) echo 102400 ;; *) echo 233472 ;; esac; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
IFS=';' read -r -a arch_list <<< "$archs"
pids=()
for a in "${arch_list[@]}"; do  # one nvcc per architecture, in parallel
  "$nvcc" -cubin -arch="sm_$a" --resource-usage --expt-relaxed-constexpr -O3 -DNDEBUG -std=c++17 -I"$root" \
    "$source" -o "$tmp/sm_$a.cubin" > "$tmp/sm_$a.txt" 2>&1 &
  pids+=($!)
done
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    echo "cuda_resources.sh: nvcc failed for sm_${arch_list[$i]}:" >&2; cat "$tmp/sm_${arch_list[$i]}.txt" >&2; exit 2
  fi
done

# ptxas reports, per entry function: "Compiling entry function '<mangled>' for 'sm_XX'", then
# "N bytes stack frame, N bytes spill stores, N bytes spill loads" and "Used N registers, ... N bytes smem".
# Names are demangled (c++filt) and shortened: attn_fwd<bf16,64,K1,E1> = attn_fwd_kernel<__nv_bfloat16, 64,
# (KeySrc)1, (Epi)1>.
short_names() {
  c++filt | sed -e '/Compiling entry function/{s/([a-z_0-9:]*KeySrc)/K/g; s/([a-z_0-9:]*Epi)/E/g; s/, /,/g}' \
                -e "s/Compiling entry function 'void \([^(]*\)(.*/Compiling entry function \1/" \
                -e 's/[a-z_0-9]*::[a-z_0-9]*::\([a-z_]*\)_kernel/\1/' -e 's/__nv_bfloat16/bf16/g'
}
status=0
printf '%-6s %-24s %5s %11s %6s %7s %9s %9s\n' arch kernel regs spill_st/ld stack smem_B blocks/SM occupancy
for a in "${arch_list[@]}"; do
  short_names < "$tmp/sm_$a.txt" | awk -v arch="$a" -v threads="$threads" -v regs_sm="$kRegsPerSm" \
      -v smem_block_max="$kStaticSmemPerBlock" -v smem_sm="$(smem_per_sm "$a")" '
    function finish() {
      if (name == "") return
      warps = threads / 32
      regs_warp = int((regs * 32 + 255) / 256) * 256          # allocation granularity: 256 per warp
      by_regs = regs_warp > 0 ? int(int(regs_sm / regs_warp) / warps) : 32
      by_smem = int(smem_sm / (smem + 1024))
      blocks = by_regs; if (by_smem < blocks) blocks = by_smem; if (32 < blocks) blocks = 32
      if (blocks * warps > 64) blocks = int(64 / warps)
      printf "sm_%-3s %-24s %5d %5d/%-5d %6d %7d %9d %8.0f%%\n", arch, name, regs, st, ld, stack, smem, blocks, 100 * blocks * warps / 64
      if (st + ld > 0) { printf "FAIL sm_%s %s: register spills (%d bytes stored, %d loaded)\n", arch, name, st, ld; bad = 1 }
      if (regs * threads > regs_sm) { printf "FAIL sm_%s %s: %d registers x %d threads > %d per block\n", arch, name, regs, threads, regs_sm; bad = 1 }
      if (smem > smem_block_max) { printf "FAIL sm_%s %s: %d bytes static shared memory > %d per block\n", arch, name, smem, smem_block_max; bad = 1 }
      name = ""
    }
    /Compiling entry function/ { finish(); name = $0; sub(/.*Compiling entry function /, "", name); st = ld = stack = regs = smem = 0 }
    /bytes stack frame/ { for (i = 1; i <= NF; i++) { if ($(i+1) == "bytes" && $(i+2) == "stack") stack = $i; if ($(i+2) == "spill" && $(i+3) == "stores,") st = $i; if ($(i+2) == "spill" && $(i+3) == "loads") ld = $i } }
    /Used [0-9]+ registers/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^registers/) regs = $i; if ($(i+1) == "bytes" && $(i+2) ~ /^smem/) smem = $i } }
    END { finish(); exit bad }
  ' || status=1
  grep -q "Compiling entry function" "$tmp/sm_$a.txt" || { echo "FAIL sm_$a: nvcc reported no kernels (no --resource-usage output)"; status=1; }
done
echo "threads per block: $threads; limits: no spills, registers x threads <= $kRegsPerSm, static smem <= $kStaticSmemPerBlock B"
echo "(stack: per-thread local arrays the kernels index at run time; reported, not a failure)"
if [ $status -ne 0 ]; then echo "cuda_resources: FAILED"; else echo "cuda_resources: ok"; fi
exit $status
