#include "trainer/test_hooks.h"

#include <signal.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

namespace rpct {

namespace {
double next_loss_factor = 1.0;  // set by a "nan"/"inf" fault, taken by injected_loss_factor()
}  // namespace

// RPCT_FAULT is parsed once.
void maybe_inject_fault(int rank, int64_t step) {
  static const auto spec = [] {
    struct F {
      std::string kind;
      int rank = -1;
      int64_t step = -1;
    } f;
    if (const char* e = std::getenv("RPCT_FAULT")) {
      std::string s(e);
      auto a = s.find(':'), b = s.rfind(':');
      if (a != std::string::npos && b != a) {
        f.kind = s.substr(0, a);
        f.rank = std::stoi(s.substr(a + 1, b - a - 1));
        f.step = std::stoll(s.substr(b + 1));
      }
    }
    return f;
  }();
  if (spec.rank != rank || spec.step != step) return;
  std::fprintf(stderr, "rank %d: RPCT_FAULT %s at step %lld\n", rank, spec.kind.c_str(), static_cast<long long>(step));
  std::fflush(stderr);
  if (spec.kind == "exit") std::_Exit(17);
  if (spec.kind == "hang")
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  if (spec.kind == "stop") ::raise(SIGSTOP);
  if (spec.kind == "nan") next_loss_factor = std::numeric_limits<double>::quiet_NaN();
  if (spec.kind == "inf") next_loss_factor = std::numeric_limits<double>::infinity();
}

double injected_loss_factor() {
  const double f = next_loss_factor;
  next_loss_factor = 1.0;
  return f;
}

void trace_samples(int rank, int64_t epoch, int64_t step, const std::vector<int64_t>& idx) {
  static const char* prefix = std::getenv("RPCT_SAMPLE_LOG");
  if (!prefix) return;
  std::ofstream out(std::string(prefix) + ".rank" + std::to_string(rank), std::ios::app);
  out << epoch << " " << step;
  for (auto i : idx) out << " " << i;
  out << "\n";
}

}  // namespace rpct
