// The random draws of the corruptions, from one seed: xoshiro256** seeded through splitmix64, uniform
// doubles in [0, 1) with 53 bits, standard normals by Box-Muller, Poisson counts by inversion of the
// exact CDF, integers in [lo, hi). Same distributions as numpy's legacy RandomState the package
// draws from (not the same streams: tests compare distributions, or feed numpy's draws to the
// deterministic kernels in corruption_ops.h). Internal to robust/.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

namespace rpct::robust {

class CorruptionRng {
 public:
  explicit CorruptionRng(uint64_t seed) {
    uint64_t x = seed;
    for (auto& s : state_) s = splitmix64(x);
  }
  uint64_t next() {
    const uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Integer in [lo, hi) (hi > lo).
  int64_t integer(int64_t lo, int64_t hi) {
    const uint64_t span = static_cast<uint64_t>(hi - lo);
    return lo + static_cast<int64_t>(next() % span);  // span <= 2^12 here: modulo bias < 2^-50
  }
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = uniform();
    while (u1 <= 0.0) u1 = uniform();
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    constexpr double kTwoPi = 6.283185307179586476925286766559;
    spare_ = r * std::sin(kTwoPi * u2);
    has_spare_ = true;
    return r * std::cos(kTwoPi * u2);
  }
  void normals(double* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = normal();
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t state_[4];
  bool has_spare_ = false;
  double spare_ = 0.0;
};

// Poisson sampler by inversion for a small set of means (shot noise: mean = pixel/255 * c, 256 values
// per severity): the CDF of each mean is tabulated on first use.
class PoissonTable {
 public:
  // The count for mean `lambda` given u in [0, 1).
  int64_t sample(int key, double lambda, double u) {
    if (static_cast<size_t>(key) >= cdfs_.size()) cdfs_.resize(key + 1);
    std::vector<double>& cdf = cdfs_[key];
    if (cdf.empty()) build(lambda, &cdf);
    // first k with u < cdf[k]
    int64_t lo = 0, hi = static_cast<int64_t>(cdf.size()) - 1;
    while (lo < hi) {
      const int64_t mid = (lo + hi) / 2;
      if (u < cdf[mid]) hi = mid; else lo = mid + 1;
    }
    return lo;
  }

 private:
  static void build(double lambda, std::vector<double>* cdf) {
    // pmf(k) = exp(-lambda) lambda^k / k!, summed until the tail is below double resolution; the last
    // entry is set to 1 so every u maps to a count.
    constexpr double kTailMass = 1e-17;
    const int64_t kmax = static_cast<int64_t>(lambda + 20.0 * std::sqrt(lambda) + 30.0);
    double log_p = -lambda, acc = 0.0;
    for (int64_t k = 0; k <= kmax; ++k) {
      if (k > 0) log_p += std::log(lambda) - std::log(static_cast<double>(k));
      acc += lambda > 0 ? std::exp(log_p) : (k == 0 ? 1.0 : 0.0);
      cdf->push_back(acc);
      if (k > lambda && 1.0 - acc < kTailMass) break;
    }
    cdf->back() = 1.0;
  }
  std::vector<std::vector<double>> cdfs_;
};

}  // namespace rpct::robust
