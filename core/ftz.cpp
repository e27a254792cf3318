#include "core/ftz.h"

#include <ATen/Parallel.h>

#if defined(__x86_64__) || defined(__SSE__)
#include <xmmintrin.h>
#define RPCT_HAVE_MXCSR 1
#endif

namespace rpct {
namespace {
#ifdef RPCT_HAVE_MXCSR
constexpr unsigned kFtzDaz = 0x8040u;  // FTZ (bit 15) | DAZ (bit 6)
#endif
}  // namespace

bool have_flush_denormal() {
#ifdef RPCT_HAVE_MXCSR
  return true;
#else
  return false;
#endif
}

bool set_flush_denormal_all_threads(bool on) {
#ifdef RPCT_HAVE_MXCSR
  auto apply = [on] { _mm_setcsr(on ? (_mm_getcsr() | kFtzDaz) : (_mm_getcsr() & ~kFtzDaz)); };
  apply();
  // One task per pool thread: at::parallel_for with grain 1 over get_num_threads() items gives each
  // OpenMP thread exactly one (static schedule); the pool's threads keep their MXCSR.
  at::parallel_for(0, at::get_num_threads(), 1, [&](int64_t, int64_t) { apply(); });
  return true;
#else
  (void)on;
  return false;
#endif
}

ScopedFlushDenormal::ScopedFlushDenormal() {
#ifdef RPCT_HAVE_MXCSR
  saved_ = _mm_getcsr();
  _mm_setcsr(saved_ | kFtzDaz);
#endif
}

ScopedFlushDenormal::~ScopedFlushDenormal() {
#ifdef RPCT_HAVE_MXCSR
  _mm_setcsr(saved_);
#endif
}

}  // namespace rpct
