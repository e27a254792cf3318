// cuda_emu: a small host emulation of the CUDA execution model, for tests only.
//
// A kernel's .cuh source, compiled by the host compiler with this header instead of the CUDA
// headers, runs unchanged:
//   - `__global__`, `__device__`, `__host__`, `__forceinline__`, `__launch_bounds__` are defined away;
//   - `gridDim`, `blockIdx`, `blockDim`, `threadIdx` are thread_local values of type `dim3`;
//   - `launch(kernel, grid, block, args...)` runs the grid ONE BLOCK AT A TIME; the block's threads
//     are real std::threads (spawned once per launch, reused for every block);
//   - `__syncthreads()` is a real barrier across the block's threads (threads that returned from the
//     kernel count as arrived, as on current hardware);
//   - shared memory: `RPCT_EMU_SHARED(type, name, dims)` (the .cuh maps its own `RPCT_SHARED` to it)
//     carves `name` out of a per-block arena of kSharedBytes (48 KiB, the static shared limit). The
//     arena is POISONED (every byte 0xFF: a NaN for float) at the start of every block, so reading
//     shared memory nobody wrote in this block gives NaN, not a plausible stale value;
//   - warp shuffles (`__shfl_sync`, `__shfl_xor_sync`, `__shfl_down_sync`, `__shfl_up_sync`, with
//     `width`), votes (`__ballot_sync`, `__any_sync`, `__all_sync`) and `__syncwarp` are real
//     rendezvous of the lanes named in the mask: every lane deposits its value, the last to arrive
//     publishes the warp's values, all lanes read them. Reading a lane outside the mask, masks that
//     differ between lanes, or a lane waiting for a lane that is parked at `__syncthreads` or has
//     exited are reported as errors;
//   - `atomicAdd` (float, double, int, unsigned, unsigned long long), `atomicMax` (int, unsigned) are
//     real atomic read-modify-writes (compare-and-swap loops);
//   - `__nv_bfloat16` with `__float2bfloat16` (round to nearest even) and `__bfloat162float`.
//
// Scheduling. In Schedule::kWarpOrdered (the default) one warp at a time holds the "token" and runs
// (its 32 lanes concurrently, so warp collectives work); it keeps running until all its lanes are
// parked at `__syncthreads` (or exited), then the next warp in `warp_order` runs. A missing
// `__syncthreads` is therefore detected DETERMINISTICALLY: e.g. without the barrier after a
// cooperative tile load, warp 0 reads the parts of the tile that warps 1..3 have not loaded yet
// (poison, or the previous tile), and without the barrier before the next load, warp 0 overwrites a
// tile the other warps have not read. Schedule::kFree lets all threads of the block run at once
// (the OS decides the interleaving): correct kernels must give the same results in both.
//
// Errors (a deadlock, a bad collective, an exception thrown by the kernel) abort the block and are
// rethrown by launch() as std::runtime_error. A wait longer than Options::timeout_s is reported as a
// deadlock. What is NOT emulated: memory fences/visibility beyond what std::mutex gives, clusters,
// cooperative groups, dynamic shared memory, streams (launches are synchronous), tensor cores,
// limits on registers. Throughput is ~1e5 warp collectives per second: use small sizes.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#ifdef __CUDACC__
#error "cuda_emu.h is for host compilers; nvcc uses the real CUDA headers"
#endif

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

inline thread_local dim3 gridDim;
inline thread_local dim3 blockIdx;
inline thread_local dim3 blockDim;
inline thread_local dim3 threadIdx;
constexpr int warpSize = 32;

namespace rpct {
namespace emu {

constexpr std::size_t kSharedBytes = 48 * 1024;  // the static __shared__ limit per block
constexpr int kWarpSize = 32;

enum class Schedule { kWarpOrdered, kFree };
enum class WarpOrder { kAscending, kDescending };

struct Options {
  Schedule schedule = Schedule::kWarpOrdered;
  WarpOrder warp_order = WarpOrder::kAscending;
  double timeout_s = 60.0;  // a wait longer than this is reported as a deadlock
};

inline Options& options() {
  static Options o;
  return o;
}

// Sets the options for the launches in its scope (tests: ScopedOptions s({Schedule::kFree});).
class ScopedOptions {
 public:
  explicit ScopedOptions(Options o) : saved_(options()) { options() = o; }
  ~ScopedOptions() { options() = saved_; }

 private:
  Options saved_;
};

struct Aborted {};  // thrown in the other threads of a block after one of them failed

// One launch: the block's threads, the barrier, the warps' rendezvous, the token, the arena.
class BlockRunner {
 public:
  BlockRunner(int nthreads, const Options& opt)
      : n_(nthreads), nwarps_((nthreads + kWarpSize - 1) / kWarpSize), opt_(opt), state_(nthreads),
        warps_(nwarps_), warp_cv_(nwarps_), arena_(kSharedBytes) {
    for (int i = 0; i < nwarps_; ++i)
      order_.push_back(opt.warp_order == WarpOrder::kAscending ? i : nwarps_ - 1 - i);
  }

  // ---- block boundaries ----
  // Every thread calls this before block `b`; the last to arrive resets the block state.
  void block_begin(int tid) {
    std::unique_lock<std::mutex> lk(m_);
    const std::uint64_t g = launch_gen_;
    if (++launch_arrived_ == n_) {
      launch_arrived_ = 0;
      std::fill(state_.begin(), state_.end(), kRunning);
      live_ = n_;
      bar_arrived_ = 0;
      std::memset(arena_.data(), 0xFF, arena_.size());  // poison
      token_ = order_[0];
      ++launch_gen_;
      notify_all_locked();
    } else {
      wait(lk, [&] { return launch_gen_ != g; }, "block start");
    }
    shared_offset() = 0;
    wait(lk, [&] { return has_token(tid); }, "the token at block start");
  }

  // The kernel returned for this thread (or threw: then `failed` aborts the block).
  void thread_exit(int tid) {
    std::unique_lock<std::mutex> lk(m_);
    state_[tid] = kExited;
    --live_;
    if (live_ > 0 && bar_arrived_ == live_) release_barrier_locked();
    pass_token_locked();
    notify_all_locked();  // lanes waiting for this one in a collective must see the exit
  }

  void fail(std::exception_ptr e) {
    std::lock_guard<std::mutex> lk(m_);
    if (!error_) error_ = e;
    aborted_ = true;
    notify_all_locked();
  }
  std::exception_ptr error() const { return error_; }

  // ---- __syncthreads ----
  void syncthreads(int tid) {
    std::unique_lock<std::mutex> lk(m_);
    const std::uint64_t g = bar_gen_;
    state_[tid] = kAtBarrier;
    if (++bar_arrived_ == live_) {
      release_barrier_locked();
    } else {
      pass_token_locked();
      wait(lk, [&] { return bar_gen_ != g; }, "__syncthreads");
    }
    wait(lk, [&] { return has_token(tid); }, "the token after __syncthreads");
  }

  // ---- warp rendezvous: returns the 32 values deposited by the lanes (lanes outside the mask: unset) ----
  struct Exchange {
    std::array<std::uint64_t, kWarpSize> value;
    unsigned mask;
  };
  Exchange warp_exchange(int tid, unsigned mask, std::uint64_t value, const char* what) {
    std::unique_lock<std::mutex> lk(m_);
    const int w = tid / kWarpSize, lane = tid % kWarpSize;
    WarpState& ws = warps_[w];
    if (!((mask >> lane) & 1u)) throw_locked(std::string(what) + ": calling lane " + std::to_string(lane) + " is not in the mask");
    if (ws.arrived == 0) {
      ws.mask = mask;
    } else if (ws.mask != mask) {
      throw_locked(std::string(what) + ": lanes of warp " + std::to_string(w) + " disagree on the mask");
    }
    ws.in[lane] = value;
    const std::uint64_t g = ws.gen;
    if (++ws.arrived == __builtin_popcount(mask)) {
      ws.out = ws.in;
      ws.out_mask = mask;
      ws.arrived = 0;
      ++ws.gen;
      warp_cv_[w].notify_all();
    } else {
      wait(lk, [&] {
        if (ws.gen != g) return true;
        for (int l = 0; l < kWarpSize; ++l) {  // a lane in the mask that can never arrive: deadlock
          const int t = w * kWarpSize + l;
          if (((mask >> l) & 1u) && t < n_ && state_[t] != kRunning)
            throw_locked(std::string(what) + ": lane " + std::to_string(l) + " of warp " + std::to_string(w) +
                         (state_[t] == kExited ? " has exited" : " waits at __syncthreads") +
                         " while lane " + std::to_string(lane) + " waits for it");
        }
        return false;
      }, what);
    }
    return Exchange{ws.out, ws.out_mask};
  }

  // ---- shared memory ----
  void* shared_alloc(std::size_t bytes, std::size_t align) {
    std::size_t& off = shared_offset();
    off = (off + align - 1) / align * align;
    if (off + bytes > arena_.size())
      throw std::runtime_error("cuda_emu: block uses more than " + std::to_string(kSharedBytes) +
                               " bytes of static shared memory");
    void* p = arena_.data() + off;
    off += bytes;
    return p;
  }

  static BlockRunner*& current() {
    static thread_local BlockRunner* r = nullptr;
    return r;
  }
  static int& current_tid() {
    static thread_local int t = 0;
    return t;
  }

 private:
  enum ThreadState : unsigned char { kRunning, kAtBarrier, kExited };
  struct WarpState {
    int arrived = 0;
    std::uint64_t gen = 0;
    unsigned mask = 0, out_mask = 0;
    std::array<std::uint64_t, kWarpSize> in{}, out{};
  };

  static std::size_t& shared_offset() {
    static thread_local std::size_t off = 0;
    return off;
  }

  bool has_token(int tid) const { return opt_.schedule == Schedule::kFree || token_ == tid / kWarpSize; }

  bool warp_parked(int w) const {
    for (int t = w * kWarpSize; t < std::min(n_, (w + 1) * kWarpSize); ++t)
      if (state_[t] == kRunning) return false;
    return true;
  }

  // Warp-ordered schedule: when the token's warp is parked, hand the token to the next warp (in
  // order) that still has running lanes.
  void pass_token_locked() {
    if (opt_.schedule == Schedule::kFree || !warp_parked(token_)) return;
    const int pos = static_cast<int>(std::find(order_.begin(), order_.end(), token_) - order_.begin());
    for (int i = 1; i <= nwarps_; ++i) {
      const int w = order_[(pos + i) % nwarps_];
      if (!warp_parked(w)) {
        token_ = w;
        warp_cv_[w].notify_all();
        return;
      }
    }
  }

  void release_barrier_locked() {
    bar_arrived_ = 0;
    ++bar_gen_;
    for (auto& s : state_)
      if (s == kAtBarrier) s = kRunning;
    for (int w : order_)
      if (!warp_parked(w)) {
        token_ = w;
        break;
      }
    notify_all_locked();
  }

  void notify_all_locked() {
    for (auto& cv : warp_cv_) cv.notify_all();
  }

  [[noreturn]] void throw_locked(const std::string& msg) {
    aborted_ = true;
    notify_all_locked();
    throw std::runtime_error("cuda_emu: " + msg);
  }

  template <class Pred>
  void wait(std::unique_lock<std::mutex>& lk, Pred pred, const char* what) {
    const int w = current_tid() / kWarpSize;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(opt_.timeout_s);
    while (true) {
      if (aborted_) throw Aborted{};
      if (pred()) return;
      if (warp_cv_[w].wait_until(lk, deadline) == std::cv_status::timeout && !pred() && !aborted_)
        throw_locked(std::string("deadlock: thread ") + std::to_string(current_tid()) + " waited " +
                     std::to_string(opt_.timeout_s) + " s for " + what);
    }
  }

  const int n_, nwarps_;
  const Options opt_;
  std::mutex m_;
  std::vector<ThreadState> state_;
  std::vector<WarpState> warps_;
  std::vector<std::condition_variable> warp_cv_;  // threads wait on their own warp's variable
  std::vector<int> order_;
  int live_ = 0, bar_arrived_ = 0, launch_arrived_ = 0, token_ = 0;
  std::uint64_t bar_gen_ = 0, launch_gen_ = 0;
  bool aborted_ = false;
  std::exception_ptr error_;
  std::vector<unsigned char> arena_;
};

// Runs kernel<<<grid, block>>>(args...) on the host, synchronously. Throws what a thread threw.
template <class... KArgs, class... Args>
void launch(void (*kernel)(KArgs...), dim3 grid, dim3 block, Args&&... args) {
  static_assert(sizeof...(KArgs) == sizeof...(Args), "cuda_emu::launch: wrong number of kernel arguments");
  const int nthreads = static_cast<int>(block.x * block.y * block.z);
  if (nthreads <= 0 || nthreads > 1024) throw std::runtime_error("cuda_emu: bad block size");
  if (grid.x * grid.y * grid.z == 0) return;
  BlockRunner runner(nthreads, options());
  std::vector<std::thread> threads;
  threads.reserve(nthreads);
  for (int tid = 0; tid < nthreads; ++tid) {
    threads.emplace_back([&, tid] {
      BlockRunner::current() = &runner;
      BlockRunner::current_tid() = tid;
      gridDim = grid;
      blockDim = block;
      threadIdx = dim3(tid % block.x, (tid / block.x) % block.y, tid / (block.x * block.y));
      try {
        for (unsigned bz = 0; bz < grid.z; ++bz)
          for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
              blockIdx = dim3(bx, by, bz);
              runner.block_begin(tid);
              try {
                kernel(args...);  // by value, as a CUDA launch copies its arguments
              } catch (const Aborted&) {
                throw;
              } catch (...) {
                runner.fail(std::current_exception());
                throw Aborted{};
              }
              runner.thread_exit(tid);
            }
      } catch (const Aborted&) {
      } catch (...) {
        runner.fail(std::current_exception());
      }
      BlockRunner::current() = nullptr;
    });
  }
  for (auto& t : threads) t.join();
  if (runner.error()) std::rethrow_exception(runner.error());
}

namespace detail {
inline BlockRunner& runner() {
  BlockRunner* r = BlockRunner::current();
  if (!r) throw std::runtime_error("cuda_emu: device function called outside emu::launch");
  return *r;
}
template <class T>
std::uint64_t to_bits(T v) {
  static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 8, "cuda_emu: shuffle of an unsupported type");
  std::uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <class T>
T from_bits(std::uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}
template <class T>
T shfl_from(unsigned mask, T var, int src, const char* what) {
  auto ex = runner().warp_exchange(BlockRunner::current_tid(), mask, to_bits(var), what);
  if (src < 0 || src >= kWarpSize || !((ex.mask >> src) & 1u))
    throw std::runtime_error(std::string("cuda_emu: ") + what + " reads lane " + std::to_string(src) +
                             ", which is not in the mask");
  return from_bits<T>(ex.value[src]);
}
inline int lane_id() { return BlockRunner::current_tid() % kWarpSize; }

template <class T, class Op>
T atomic_rmw(T* addr, Op op) {
  using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  static_assert(sizeof(T) == sizeof(Bits), "cuda_emu: atomic of an unsupported size");
  Bits* p = reinterpret_cast<Bits*>(addr);
  Bits old_bits = __atomic_load_n(p, __ATOMIC_RELAXED);
  while (true) {
    T old_v;
    std::memcpy(&old_v, &old_bits, sizeof(T));
    const T new_v = op(old_v);
    Bits new_bits;
    std::memcpy(&new_bits, &new_v, sizeof(T));
    if (__atomic_compare_exchange_n(p, &old_bits, new_bits, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) return old_v;
  }
}
}  // namespace detail

}  // namespace emu
}  // namespace rpct

// ---- shared memory declaration (the .cuh's RPCT_SHARED maps here on the host) ----
#define RPCT_EMU_SHARED(type, name, dims)                                                               \
  typedef type name##_emu_shared_t dims;                                                                \
  name##_emu_shared_t& name = *static_cast<name##_emu_shared_t*>(                                       \
      ::rpct::emu::detail::runner().shared_alloc(sizeof(name##_emu_shared_t), alignof(name##_emu_shared_t)))

// ---- CUDA device intrinsics ----
inline void __syncthreads() {
  ::rpct::emu::detail::runner().syncthreads(::rpct::emu::BlockRunner::current_tid());
}
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  ::rpct::emu::detail::runner().warp_exchange(::rpct::emu::BlockRunner::current_tid(), mask, 0, "__syncwarp");
}
template <class T>
T __shfl_sync(unsigned mask, T var, int src_lane, int width = warpSize) {
  const int lane = ::rpct::emu::detail::lane_id();
  return ::rpct::emu::detail::shfl_from(mask, var, (lane / width) * width + (src_lane % width), "__shfl_sync");
}
template <class T>
T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize) {
  const int lane = ::rpct::emu::detail::lane_id();
  int src = lane ^ lane_mask;
  if (src / width != lane / width) src = lane;  // outside the segment: own value
  return ::rpct::emu::detail::shfl_from(mask, var, src, "__shfl_xor_sync");
}
template <class T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
  const int lane = ::rpct::emu::detail::lane_id();
  const int src = (lane % width) + static_cast<int>(delta) < width ? lane + static_cast<int>(delta) : lane;
  return ::rpct::emu::detail::shfl_from(mask, var, src, "__shfl_down_sync");
}
template <class T>
T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
  const int lane = ::rpct::emu::detail::lane_id();
  const int src = (lane % width) >= static_cast<int>(delta) ? lane - static_cast<int>(delta) : lane;
  return ::rpct::emu::detail::shfl_from(mask, var, src, "__shfl_up_sync");
}
inline unsigned __ballot_sync(unsigned mask, int predicate) {
  auto ex = ::rpct::emu::detail::runner().warp_exchange(::rpct::emu::BlockRunner::current_tid(), mask,
                                                        predicate ? 1 : 0, "__ballot_sync");
  unsigned bits = 0;
  for (int l = 0; l < ::rpct::emu::kWarpSize; ++l)
    if (((ex.mask >> l) & 1u) && ex.value[l]) bits |= 1u << l;
  return bits;
}
inline int __any_sync(unsigned mask, int predicate) { return __ballot_sync(mask, predicate) != 0; }
inline int __all_sync(unsigned mask, int predicate) { return __ballot_sync(mask, predicate) == mask; }

inline float atomicAdd(float* a, float v) { return ::rpct::emu::detail::atomic_rmw(a, [v](float o) { return o + v; }); }
inline double atomicAdd(double* a, double v) { return ::rpct::emu::detail::atomic_rmw(a, [v](double o) { return o + v; }); }
inline int atomicAdd(int* a, int v) { return __atomic_fetch_add(a, v, __ATOMIC_SEQ_CST); }
inline unsigned atomicAdd(unsigned* a, unsigned v) { return __atomic_fetch_add(a, v, __ATOMIC_SEQ_CST); }
inline unsigned long long atomicAdd(unsigned long long* a, unsigned long long v) {
  return __atomic_fetch_add(a, v, __ATOMIC_SEQ_CST);
}
inline int atomicMax(int* a, int v) { return ::rpct::emu::detail::atomic_rmw(a, [v](int o) { return std::max(o, v); }); }
inline unsigned atomicMax(unsigned* a, unsigned v) {
  return ::rpct::emu::detail::atomic_rmw(a, [v](unsigned o) { return std::max(o, v); });
}

// ---- bfloat16 (bit-compatible with __nv_bfloat16 and at::BFloat16) ----
struct __nv_bfloat16 {
  std::uint16_t x;
};
inline float __bfloat162float(__nv_bfloat16 h) {
  const std::uint32_t bits = static_cast<std::uint32_t>(h.x) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
inline __nv_bfloat16 __float2bfloat16(float f) {  // round to nearest, ties to even; NaN stays NaN
  std::uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if (std::isnan(f)) return __nv_bfloat16{static_cast<std::uint16_t>((bits >> 16) | 0x40)};
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  return __nv_bfloat16{static_cast<std::uint16_t>(bits >> 16)};
}
