#include "core/stop_signal.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace rpct {
namespace {

// The signals a stop may be asked with, by name (run.stop_signal takes these names).
struct NamedSignal {
  int sig;
  const char* name;
};
constexpr NamedSignal kSignals[] = {{SIGTERM, "TERM"}, {SIGINT, "INT"},   {SIGUSR1, "USR1"},
                                    {SIGUSR2, "USR2"}, {SIGHUP, "HUP"},   {SIGXCPU, "XCPU"}};

std::atomic<int> g_signal{0};           // the first stop signal, 0 = none
std::atomic<int64_t> g_signal_ns{0};    // when it arrived (CLOCK_MONOTONIC)
static_assert(std::atomic<int>::is_always_lock_free && std::atomic<int64_t>::is_always_lock_free,
              "the signal handler needs lock-free atomics");

int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);  // async-signal-safe (POSIX)
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// Only async-signal-safe work: atomics, clock_gettime, write, _exit.
void on_stop_signal(int sig) {
  const int saved_errno = errno;
  int none = 0;
  if (g_signal.compare_exchange_strong(none, sig)) {
    g_signal_ns.store(monotonic_ns());
  } else if (sig == SIGINT) {
    static const char kMessage[] =
        "\nrpctrain: SIGINT while a stop is pending: exiting now, without a checkpoint of this step "
        "(the previous checkpoint stays valid)\n";
    [[maybe_unused]] const ssize_t n = write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
    _exit(kExitInterrupted);
  }
  errno = saved_errno;
}

std::atomic<int> g_depth{0};  // StopSignals instances alive

}  // namespace

struct StopSignals::Replaced {
  int sig;
  struct sigaction action;
};

std::string signal_name(int sig) {
  for (const auto& s : kSignals)
    if (s.sig == sig) return std::string("SIG") + s.name;
  return "signal " + std::to_string(sig);
}

int signal_from_name(const std::string& name) {
  const std::string bare = name.rfind("SIG", 0) == 0 ? name.substr(3) : name;
  for (const auto& s : kSignals)
    if (bare == s.name) return s.sig;
  std::string names;
  for (const auto& s : kSignals) names += std::string(names.empty() ? "" : ", ") + s.name;
  throw std::invalid_argument("unknown stop signal '" + name + "' (one of " + names + ")");
}

StopSignals::StopSignals(int extra) : replaced_(std::make_unique<std::vector<Replaced>>()) {
  if (g_depth.fetch_add(1) == 0) {
    g_signal.store(0);
    g_signal_ns.store(0);
  }
  std::vector<int> signals = {SIGTERM, SIGINT, SIGUSR1};
  if (extra != 0 && extra != SIGTERM && extra != SIGINT && extra != SIGUSR1) signals.push_back(extra);
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // system calls in flight (file writes, MPI's polling) go on
  for (int s : signals) {
    Replaced r{s, {}};
    if (sigaction(s, &sa, &r.action) != 0) {
      const std::string why = std::strerror(errno);
      restore();
      throw std::runtime_error("cannot install the handler of " + signal_name(s) + ": " + why);
    }
    replaced_->push_back(r);
  }
}

StopSignals::~StopSignals() { restore(); }

void StopSignals::restore() {
  for (auto it = replaced_->rbegin(); it != replaced_->rend(); ++it) sigaction(it->sig, &it->action, nullptr);
  replaced_->clear();
  g_depth.fetch_sub(1);
}

int stop_signal() { return g_signal.load(); }

double seconds_since_stop_signal() {
  const int64_t t = g_signal_ns.load();
  return g_signal.load() == 0 || t == 0 ? 0.0 : static_cast<double>(monotonic_ns() - t) * 1e-9;
}

}  // namespace rpct
