# Sourced by scripts/test.sh --sanitize: the run-time options of the sanitizer builds, argument asan or tsan.
# Every finding stops the process with a non-zero exit (halt_on_error; UBSan is also built with
# -fno-sanitize-recover), so it fails its test. Suppressions (one reason per line in each file) cover only
# code we do not build: LibTorch, Open MPI, libgomp.
rpct_sanitizers="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
case "$1" in
  asan)
    export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:strict_string_checks=1:check_initialization_order=1:detect_stack_use_after_return=1"
    export LSAN_OPTIONS="suppressions=$rpct_sanitizers/lsan.supp:print_suppressions=0"
    # Open MPI unloads its components at exit: their leaked start-up allocations would have no module name.
    export OMPI_MCA_mca_base_component_disable_dlclose=1
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$rpct_sanitizers/ubsan.supp"
    ;;
  tsan)
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$rpct_sanitizers/tsan.supp"
    # LibTorch's intra-op parallelism is OpenMP (libgomp, not instrumented): TSan cannot see libgomp's
    # barriers, so every parallel region would be reported as a race between its workers. One OpenMP thread
    # keeps the regions on the calling thread; the threads under test (GradSync's comm thread, loader
    # workers, the watchdog) are std::threads of ours and are all instrumented.
    export OMP_NUM_THREADS=1
    ;;
  *) echo "scripts/sanitizers/env.sh: unknown sanitizer build '$1' (asan or tsan)" >&2; return 2 ;;
esac
