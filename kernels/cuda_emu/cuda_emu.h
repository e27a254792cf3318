// cuda_emu: a small host emulation of the CUDA execution model, for tests only.
//
// A kernel's .cuh source, compiled by the host compiler with this header instead of the CUDA
// headers, runs unchanged:
//   - `__global__`, `__device__`, `__host__`, `__forceinline__`, `__launch_bounds__` are defined away;
//   - `gridDim`, `blockIdx`, `blockDim`, `threadIdx` are thread_local values of type `dim3`, set to the
//     running CUDA thread's values at every switch;
//   - `launch(kernel, grid, block, args...)` runs the grid ONE BLOCK AT A TIME on the calling OS thread;
//     each CUDA thread of the block is a user-space fiber (Boost.Context) with its own stack of
//     kStackBytes (a guard page below it: an overflow faults instead of corrupting a neighbour). A
//     fiber runs until it blocks (barrier, warp collective, return); then the scheduler switches to
//     the next thread the schedule allows. No OS threads, no locks, no wake-ups: a switch costs tens
//     of nanoseconds;
//   - `__syncthreads()` is a barrier across the block's threads (threads that returned from the
//     kernel count as arrived, as on current hardware);
//   - shared memory: `RPCT_EMU_SHARED(type, name, dims)` (the .cuh maps its own `RPCT_SHARED` to it)
//     carves `name` out of a per-block arena of kSharedBytes (48 KiB, the static shared limit). The
//     arena is POISONED (every byte 0xFF: a NaN for float) at the start of every block, so reading
//     shared memory nobody wrote in this block gives NaN, not a plausible stale value;
//   - warp shuffles (`__shfl_sync`, `__shfl_xor_sync`, `__shfl_down_sync`, `__shfl_up_sync`, with
//     `width`), votes (`__ballot_sync`, `__any_sync`, `__all_sync`) and `__syncwarp` are rendezvous
//     of the lanes named in the mask: every lane deposits its value and blocks, the last to arrive
//     publishes the warp's values, all lanes read them. Reading a lane outside the mask, masks that
//     differ between lanes, or a lane waiting for a lane that is parked at `__syncthreads`, has
//     exited or does not exist are reported as errors;
//   - `atomicAdd` (float, double, int, unsigned, unsigned long long), `atomicMax` (int, unsigned) are
//     atomic read-modify-writes (compare-and-swap loops; launches on several OS threads may share memory);
//   - `__nv_bfloat16` with `__float2bfloat16` (round to nearest even) and `__bfloat162float`.
//
// Scheduling (deterministic in both modes: the same kernel and inputs give the same interleaving).
// In Schedule::kWarpOrdered (the default) one warp at a time holds the "token" and runs (its lanes
// one after the other, each up to its next blocking call, so warp collectives work); it keeps running
// until all its lanes are parked at `__syncthreads` (or exited), then the next warp in `warp_order`
// runs. A missing `__syncthreads` is therefore detected DETERMINISTICALLY: e.g. without the barrier
// after a cooperative tile load, warp 0 reads the parts of the tile that warps 1..3 have not loaded
// yet (poison, or the previous tile), and without the barrier before the next load, warp 0
// overwrites a tile the other warps have not read. Schedule::kFree has no token: the threads of the
// whole block take turns in arrival order (a thread that blocks goes to the back of the queue), so
// warps interleave at every warp collective instead of running barrier to barrier: correct kernels
// must give the same results in both.
//
// Errors (a deadlock, a bad collective, an exception thrown by the kernel) abort the block (every
// other thread unwinds its stack) and are rethrown by launch() as std::runtime_error (an exception
// of another type thrown by the kernel is rethrown as it is). A deadlock is detected exactly: when no
// thread the schedule allows can run, the error names a waiting lane and why it waits. What is NOT
// emulated: concurrency between the threads of a block (no data races inside a block: use
// compute-sanitizer on a GPU), memory fences/visibility, clusters, cooperative groups, dynamic shared
// memory, streams (launches are synchronous), tensor cores, limits on registers; a thread that spins
// on memory written by another thread of the block never yields (hangs). The switches are not
// announced to ASan/TSan (Boost 1.74's fcontext has no hooks): the sanitizer runs leave label `emu` out.
// Throughput on the 2-core dev machine, next to a running benchmark: ~2e7 thread switches, i.e. ~5e5
// full-warp shuffles per second (the std::thread emulator before it: ~3e3, nearly all of it system
// time): still use small sizes.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/context/fiber.hpp>
#include <boost/context/protected_fixedsize_stack.hpp>

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
constexpr int kMaxBlockThreads = 1024;  // CUDA's limit on threads per block
// The stack of each emulated thread. In the Release build every emu test (the attention and PCP kernels,
// the Segmenter shape, errors thrown inside kernels) touches at most 2 pages (8 KiB) of it, Boost's
// control record included (measured: mincore on each stack before it is unmapped). 256 KiB leaves room
// for -O0 and sanitizer builds and deeper device-function calls; only touched pages cost memory, and a
// guard page below each stack turns an overflow into a fault.
constexpr std::size_t kStackBytes = 256 * 1024;

enum class Schedule { kWarpOrdered, kFree };
enum class WarpOrder { kAscending, kDescending };

struct Options {
  Schedule schedule = Schedule::kWarpOrdered;
  WarpOrder warp_order = WarpOrder::kAscending;
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

namespace detail {
// The fibers' stacks, kept for the next block and launch of this OS thread: a fresh stack costs an
// mmap, an mprotect (the guard page), a munmap and page faults, for every thread of every block.
class StackPool {
 public:
  StackPool() { free_.reserve(kMaxBlockThreads); }
  ~StackPool() {
    for (auto& s : free_) alloc_.deallocate(s);
  }
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;
  boost::context::stack_context take() {
    if (free_.empty()) return alloc_.allocate();
    const boost::context::stack_context s = free_.back();
    free_.pop_back();
    return s;
  }
  void give(boost::context::stack_context& s) noexcept {
    if (free_.size() < free_.capacity()) {
      free_.push_back(s);  // within the reserved capacity: no allocation, no throw
    } else {
      alloc_.deallocate(s);
    }
  }
  static StackPool& local() {
    static thread_local StackPool pool;
    return pool;
  }

 private:
  boost::context::protected_fixedsize_stack alloc_{kStackBytes};
  std::vector<boost::context::stack_context> free_;
};

// The StackAllocator given to boost::context::fiber.
struct PooledStack {
  boost::context::stack_context allocate() { return StackPool::local().take(); }
  void deallocate(boost::context::stack_context& s) noexcept { StackPool::local().give(s); }
};

// The threads a schedule may run next, first in first out; a thread is in at most one queue at a time.
class TidQueue {
 public:
  explicit TidQueue(int capacity = 0) : buf_(static_cast<std::size_t>(capacity)) {}
  bool empty() const { return size_ == 0; }
  void push(int t) {
    buf_[(head_ + size_) % buf_.size()] = t;
    ++size_;
  }
  int pop() {
    const int t = buf_[head_];
    head_ = (head_ + 1) % buf_.size();
    --size_;
    return t;
  }
  void clear() { head_ = size_ = 0; }

 private:
  std::vector<int> buf_;
  std::size_t head_ = 0, size_ = 0;
};
}  // namespace detail

// One launch: the block's threads (fibers) and their scheduler, the barrier, the warps' rendezvous,
// the arena. Everything runs on the launching OS thread, so its state needs no locks.
class BlockRunner {
 public:
  using Fiber = boost::context::fiber;

  // The values of a warp collective: what each lane in `mask` deposited (other lanes: unset).
  struct Exchange {
    std::array<std::uint64_t, kWarpSize> value;
    unsigned mask;
  };

  BlockRunner(dim3 block, const Options& opt)
      : n_(static_cast<int>(block.x * block.y * block.z)), nwarps_((n_ + kWarpSize - 1) / kWarpSize), opt_(opt),
        slots_(n_), warps_(nwarps_), active_(nwarps_), arena_(kSharedBytes) {
    for (int i = 0; i < nwarps_; ++i)
      order_.push_back(opt.warp_order == WarpOrder::kAscending ? i : nwarps_ - 1 - i);
    if (opt.schedule == Schedule::kFree) {
      queues_.emplace_back(n_);
    } else {
      for (int w = 0; w < nwarps_; ++w) queues_.emplace_back(kWarpSize);
    }
    for (int t = 0; t < n_; ++t)
      slots_[t].idx = dim3(t % block.x, (t / block.x) % block.y, t / (block.x * block.y));
  }

  // Runs block `b`: one fiber per thread, each calling body() (the kernel), until all have returned,
  // or the block failed (then every fiber is unwound and error() is set).
  template <class Body>
  void run_block(dim3 b, Body& body) {
    blockIdx = b;
    begin_block();
    for (int t = 0; t < n_; ++t) {
      slots_[t].fiber = Fiber(std::allocator_arg, detail::PooledStack{}, [this, t, &body](Fiber&& sink) {
        slots_[t].sink = std::move(sink);
        if (!aborted_) {
          try {
            body();
            thread_exit();
          } catch (const Aborted&) {
          } catch (const boost::context::detail::forced_unwind&) {
            throw;  // a fiber destroyed while suspended: let Boost.Context unwind it
          } catch (...) {
            fail(std::current_exception());
          }
        }
        return std::move(slots_[t].sink);
      });
      make_ready(t);
    }
    while (live_ > 0 && !aborted_) {
      const int t = next_ready();
      if (t < 0) {
        fail(std::make_exception_ptr(std::runtime_error(deadlock_message())));
        break;
      }
      switch_to(t);
    }
    for (int t = 0; t < n_; ++t)  // after an error: each suspended thread throws Aborted and unwinds
      while (slots_[t].fiber) switch_to(t);
  }

  std::exception_ptr error() const { return error_; }
  int tid() const { return cur_; }

  // ---- __syncthreads ----
  void syncthreads() {
    const int t = cur_;
    slots_[t].state = kAtBarrier;
    --active_[t / kWarpSize];
    if (++bar_arrived_ == live_) release_barrier();
    block();  // released or not, the schedule decides who runs next
  }

  // ---- warp rendezvous: the values deposited by the lanes in the mask ----
  // The reference stays valid until the calling thread blocks again.
  const Exchange& warp_exchange(unsigned mask, std::uint64_t value, const char* what) {
    const int t = cur_, w = t / kWarpSize, lane = t % kWarpSize;
    WarpState& ws = warps_[w];
    if (!((mask >> lane) & 1u))
      throw std::runtime_error("cuda_emu: " + std::string(what) + ": calling lane " + std::to_string(lane) +
                               " is not in the mask");
    if (ws.arrived == 0) {
      ws.mask = mask;
    } else if (ws.mask != mask) {
      throw std::runtime_error("cuda_emu: " + std::string(what) + ": lanes of warp " + std::to_string(w) +
                               " disagree on the mask");
    }
    ws.in[lane] = value;
    if (++ws.arrived == __builtin_popcount(mask)) {
      // Lanes of the previous collective that have not run since keep their own copy of its result.
      for (unsigned p = ws.unread; p; p &= p - 1) {
        Slot& s = slots_[w * kWarpSize + __builtin_ctz(p)];
        s.saved = ws.out;
        s.has_saved = true;
      }
      ws.out.value = ws.in;
      ws.out.mask = mask;
      ws.arrived = 0;
      ws.unread = mask & ~(1u << lane);
      for (unsigned p = ws.unread; p; p &= p - 1) make_ready(w * kWarpSize + __builtin_ctz(p));
      return ws.out;
    }
    slots_[t].state = kInCollective;
    slots_[t].waits_for = what;
    block();
    Slot& s = slots_[t];
    if (s.has_saved) {
      s.has_saved = false;
      return s.saved;
    }
    ws.unread &= ~(1u << lane);
    return ws.out;
  }

  // ---- shared memory ----
  void* shared_alloc(std::size_t bytes, std::size_t align) {
    std::size_t& off = slots_[cur_].shared_offset;
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

 private:
  // kReady: queued or running; kInCollective: blocked in a warp collective; kAtBarrier: blocked in
  // __syncthreads; kExited: returned from the kernel.
  enum ThreadState : unsigned char { kReady, kInCollective, kAtBarrier, kExited };
  struct Slot {
    Fiber fiber;  // the thread; empty once it has finished
    Fiber sink;   // the scheduler, while the thread runs
    dim3 idx;     // its threadIdx
    ThreadState state = kReady;
    const char* waits_for = "";  // the collective it is blocked in
    std::size_t shared_offset = 0;
    bool has_saved = false;
    Exchange saved{};  // its copy of a collective's result (see warp_exchange)
  };
  struct WarpState {
    int arrived = 0;
    unsigned mask = 0;
    unsigned unread = 0;  // lanes that have not yet read `out`
    std::array<std::uint64_t, kWarpSize> in{};
    Exchange out{};
  };

  void begin_block() {
    live_ = n_;
    bar_arrived_ = 0;
    for (auto& s : slots_) {
      s.state = kReady;
      s.shared_offset = 0;
      s.has_saved = false;
    }
    for (int w = 0; w < nwarps_; ++w) {
      warps_[w] = WarpState{};
      active_[w] = std::min(kWarpSize, n_ - w * kWarpSize);
    }
    for (auto& q : queues_) q.clear();
    std::memset(arena_.data(), 0xFF, arena_.size());  // poison
    token_ = order_[0];
  }

  detail::TidQueue& queue_of(int t) { return opt_.schedule == Schedule::kFree ? queues_[0] : queues_[t / kWarpSize]; }
  void make_ready(int t) {
    slots_[t].state = kReady;
    queue_of(t).push(t);
  }

  // Switches from the scheduler to thread t until it blocks or returns.
  void switch_to(int t) {
    cur_ = t;
    threadIdx = slots_[t].idx;
    slots_[t].fiber = std::move(slots_[t].fiber).resume();
  }

  // Switches from the running thread back to the scheduler; returns when the schedule runs it again.
  void block() {
    Slot& s = slots_[cur_];
    s.sink = std::move(s.sink).resume();
    if (aborted_) throw Aborted{};
  }

  // The next thread to run, or -1: none can (a deadlock).
  int next_ready() {
    if (opt_.schedule == Schedule::kFree) return queues_[0].empty() ? -1 : queues_[0].pop();
    while (true) {
      if (!queues_[token_].empty()) return queues_[token_].pop();
      // No lane of the token's warp can run: if some wait in a collective, none ever will (a
      // collective only waits for lanes of its own warp); else the warp is parked, the token moves on
      // to the next warp (in order) that still has lanes that are not parked.
      if (active_[token_] > 0) return -1;
      const int pos = static_cast<int>(std::find(order_.begin(), order_.end(), token_) - order_.begin());
      int next = -1;
      for (int i = 1; i < nwarps_ && next < 0; ++i) {
        const int w = order_[(pos + i) % nwarps_];
        if (active_[w] > 0) next = w;
      }
      if (next < 0) return -1;
      token_ = next;
    }
  }

  // The kernel returned for the running thread.
  void thread_exit() {
    slots_[cur_].state = kExited;
    --active_[cur_ / kWarpSize];
    --live_;
    if (live_ > 0 && bar_arrived_ == live_) release_barrier();
  }

  void release_barrier() {
    bar_arrived_ = 0;
    for (int t = 0; t < n_; ++t)
      if (slots_[t].state == kAtBarrier) {
        make_ready(t);
        ++active_[t / kWarpSize];
      }
    for (int w : order_)
      if (active_[w] > 0) {
        token_ = w;
        break;
      }
  }

  void fail(std::exception_ptr e) {
    if (!error_) error_ = e;
    aborted_ = true;
  }

  // Why no thread can run: a lane in a collective waits for a lane that never arrives.
  std::string deadlock_message() const {
    for (int t = 0; t < n_; ++t) {
      if (slots_[t].state != kInCollective) continue;
      const int w = t / kWarpSize;
      const std::string waiter = " while lane " + std::to_string(t % kWarpSize) + " waits for it";
      for (int l = 0; l < kWarpSize; ++l) {
        if (!((warps_[w].mask >> l) & 1u)) continue;
        const int u = w * kWarpSize + l;
        const std::string lane = std::string("cuda_emu: ") + slots_[t].waits_for + ": lane " + std::to_string(l) +
                                 " of warp " + std::to_string(w);
        if (u >= n_) return lane + " does not exist (block of " + std::to_string(n_) + " threads)" + waiter;
        if (slots_[u].state == kExited) return lane + " has exited" + waiter;
        if (slots_[u].state == kAtBarrier) return lane + " waits at __syncthreads" + waiter;
      }
    }
    return "cuda_emu: deadlock: no thread of block (" + std::to_string(blockIdx.x) + "," + std::to_string(blockIdx.y) +
           "," + std::to_string(blockIdx.z) + ") can run";
  }

  const int n_, nwarps_;
  const Options opt_;
  std::vector<Slot> slots_;
  std::vector<WarpState> warps_;
  std::vector<int> active_;  // per warp: lanes neither at the barrier nor exited
  std::vector<detail::TidQueue> queues_;  // kFree: one for the block; kWarpOrdered: one per warp
  std::vector<int> order_;
  int cur_ = 0, live_ = 0, bar_arrived_ = 0, token_ = 0;
  bool aborted_ = false;
  std::exception_ptr error_;
  std::vector<unsigned char> arena_;
};

// Runs kernel<<<grid, block>>>(args...) on the host, synchronously. Throws what a thread threw.
template <class... KArgs, class... Args>
void launch(void (*kernel)(KArgs...), dim3 grid, dim3 block, Args&&... args) {
  static_assert(sizeof...(KArgs) == sizeof...(Args), "cuda_emu::launch: wrong number of kernel arguments");
  const long long nthreads = 1LL * block.x * block.y * block.z;
  if (nthreads <= 0 || nthreads > kMaxBlockThreads) throw std::runtime_error("cuda_emu: bad block size");
  if (1ULL * grid.x * grid.y * grid.z == 0) return;
  BlockRunner runner(block, options());
  struct Current {  // the runner of this OS thread, for the device functions; restored on any exit
    BlockRunner* saved;
    explicit Current(BlockRunner* r) : saved(BlockRunner::current()) { BlockRunner::current() = r; }
    ~Current() { BlockRunner::current() = saved; }
  } current(&runner);
  gridDim = grid;
  blockDim = block;
  auto body = [&] { kernel(args...); };  // by value, as a CUDA launch copies its arguments
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        runner.run_block(dim3(bx, by, bz), body);
        if (runner.error()) std::rethrow_exception(runner.error());
      }
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
  const auto& ex = runner().warp_exchange(mask, to_bits(var), what);
  if (src < 0 || src >= kWarpSize || !((ex.mask >> src) & 1u))
    throw std::runtime_error(std::string("cuda_emu: ") + what + " reads lane " + std::to_string(src) +
                             ", which is not in the mask");
  return from_bits<T>(ex.value[src]);
}
inline int lane_id() { return runner().tid() % kWarpSize; }

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
inline void __syncthreads() { ::rpct::emu::detail::runner().syncthreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  ::rpct::emu::detail::runner().warp_exchange(mask, 0, "__syncwarp");
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
  const auto& ex = ::rpct::emu::detail::runner().warp_exchange(mask, predicate ? 1 : 0, "__ballot_sync");
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
