#include "trainer/test_hooks.h"

#include <signal.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace rpct {

namespace {
double next_loss_factor = 1.0;  // set by a "nan"/"inf" fault, taken by injected_loss_factor()
constexpr int64_t kAnyStep = -1;  // STEP "*"
struct Fault {
  std::string kind, where = "step";
  int rank = -1;
  int64_t step = -1;
};

// RPCT_FAULT, parsed once; a malformed item is reported and ignored.
const std::vector<Fault>& faults() {
  static const std::vector<Fault> list = [] {
    std::vector<Fault> out;
    const char* e = std::getenv("RPCT_FAULT");
    std::stringstream items(e ? e : "");
    for (std::string item; std::getline(items, item, ',');) {
      const auto a = item.find(':'), b = item.rfind(':');
      if (a == std::string::npos || b == a) {
        std::fprintf(stderr, "RPCT_FAULT: ignoring '%s' (expected KIND[@WHERE]:RANK:STEP)\n", item.c_str());
        continue;
      }
      Fault f;
      f.kind = item.substr(0, a);
      if (const auto at = f.kind.find('@'); at != std::string::npos) {
        f.where = f.kind.substr(at + 1);
        f.kind.resize(at);
      }
      f.rank = std::stoi(item.substr(a + 1, b - a - 1));
      const std::string step = item.substr(b + 1);
      f.step = step == "*" ? kAnyStep : std::stoll(step);
      out.push_back(f);
    }
    return out;
  }();
  return list;
}

}  // namespace

void maybe_inject_fault(int rank, int64_t step, const char* where) {
  for (const auto& f : faults()) {
    if (f.rank != rank || (f.step != step && f.step != kAnyStep) || f.where != where) continue;
    std::fprintf(stderr, "rank %d: RPCT_FAULT %s at %s %lld\n", rank, f.kind.c_str(), where,
                 static_cast<long long>(step));
    std::fflush(stderr);
    if (f.kind == "exit") std::_Exit(17);
    if (f.kind == "hang")
      for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
    if (f.kind == "stop") ::raise(SIGSTOP);
    if (f.kind == "nan") next_loss_factor = std::numeric_limits<double>::quiet_NaN();
    if (f.kind == "inf") next_loss_factor = std::numeric_limits<double>::infinity();
    if (f.kind == "term") ::raise(SIGTERM);
    if (f.kind == "int") ::raise(SIGINT);
    if (f.kind == "usr1") ::raise(SIGUSR1);
    if (f.kind == "usr2") ::raise(SIGUSR2);
  }
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
