// The random draws of the corruptions, from one seed: xoshiro256** seeded through splitmix64, uniform
// doubles in [0, 1) with 53 bits, standard normals by the ziggurat method, Poisson counts by inversion of the
// exact CDF, integers in [lo, hi). Same distributions as numpy's legacy RandomState the package
// draws from (not the same streams: tests compare distributions, or feed numpy's draws to the
// deterministic kernels in corruption_ops.h). Internal to robust/.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdlib>
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
  // Standard normal by Marsaglia & Tsang's ziggurat (128 layers, 32-bit draws): one table lookup and
  // compare for ~98% of draws; ~10x faster than Box-Muller's log + sin/cos, which dominated the noises.
  double normal() {
    const Ziggurat& z = ziggurat();
    for (;;) {
      const int32_t hz = static_cast<int32_t>(next() >> 32);
      const int iz = hz & 127;
      const double x = hz * z.w[iz];
      if (std::llabs(static_cast<int64_t>(hz)) < z.k[iz]) return x;
      if (iz == 0) {  // the tail beyond r, by Marsaglia's exponential method
        double a, b;
        do {
          a = -std::log(uniform_open()) / Ziggurat::kR;
          b = -std::log(uniform_open());
        } while (b + b < a * a);
        return hz > 0 ? Ziggurat::kR + a : -Ziggurat::kR - a;
      }
      if (z.f[iz] + uniform() * (z.f[iz - 1] - z.f[iz]) < std::exp(-0.5 * x * x)) return x;
    }
  }
  void normals(double* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = normal();
  }

 private:
  // Layer tables of the 128-layer ziggurat for the normal density (Marsaglia & Tsang 2000, zigset).
  struct Ziggurat {
    static constexpr double kR = 3.442619855899;  // start of the tail
    int64_t k[128];
    double w[128], f[128];
    Ziggurat() {
      constexpr double m1 = 2147483648.0, kArea = 9.91256303526217e-3;
      double dn = kR, tn = dn;
      const double q = kArea / std::exp(-0.5 * dn * dn);
      k[0] = static_cast<int64_t>((dn / q) * m1);
      k[1] = 0;
      w[0] = q / m1;
      w[127] = dn / m1;
      f[0] = 1.0;
      f[127] = std::exp(-0.5 * dn * dn);
      for (int i = 126; i >= 1; --i) {
        dn = std::sqrt(-2.0 * std::log(kArea / dn + std::exp(-0.5 * dn * dn)));
        k[i + 1] = static_cast<int64_t>((dn / tn) * m1);
        tn = dn;
        f[i] = std::exp(-0.5 * dn * dn);
        w[i] = dn / m1;
      }
    }
  };
  static const Ziggurat& ziggurat() {
    static const Ziggurat z;
    return z;
  }
  double uniform_open() {  // (0, 1)
    double u = uniform();
    while (u <= 0.0) u = uniform();
    return u;
  }
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t state_[4];
};

// Poisson sampler by inversion for a small set of means (shot noise: mean = pixel/255 * c, 256 values
// per severity): the CDF of each mean is tabulated on first use.
class PoissonTable {
 public:
  // The count for mean `lambda` given u in [0, 1).
  int64_t sample(int key, double lambda, double u) {
    if (static_cast<size_t>(key) >= tables_.size()) tables_.resize(key + 1);
    Table& t = tables_[key];
    if (t.cdf.empty()) build(lambda, &t);
    // first k with u < cdf[k], searched from the guide entry of u's bucket (Chen & Asau): ~1-2 steps
    int64_t k = t.guide[static_cast<size_t>(u * static_cast<double>(t.guide.size()))];
    while (u >= t.cdf[k]) ++k;
    return k;
  }

 private:
  struct Table {
    std::vector<double> cdf;
    std::vector<int64_t> guide;  // guide[j] = first k with cdf[k] > j / guide.size()
  };
  static void build(double lambda, Table* t) {
    // pmf(k) = exp(-lambda) lambda^k / k!, summed until the tail is below double resolution; the last
    // entry is set to 1 so every u maps to a count.
    constexpr double kTailMass = 1e-17;
    std::vector<double>* cdf = &t->cdf;
    const int64_t kmax = static_cast<int64_t>(lambda + 20.0 * std::sqrt(lambda) + 30.0);
    double p = std::exp(-lambda), acc = 0.0;  // exp(-60) ~ 1e-26: no underflow for the package's means
    for (int64_t k = 0; k <= kmax; ++k) {
      if (k > 0) p *= lambda / static_cast<double>(k);
      acc += p;
      cdf->push_back(acc);
      if (k > lambda && 1.0 - acc < kTailMass) break;
    }
    cdf->back() = 1.0;
    const int64_t m = static_cast<int64_t>(cdf->size());
    t->guide.resize(m);
    int64_t k = 0;
    for (int64_t j = 0; j < m; ++j) {
      const double level = static_cast<double>(j) / static_cast<double>(m);
      while ((*cdf)[k] <= level) ++k;
      t->guide[j] = k;
    }
  }
  std::vector<Table> tables_;
};

}  // namespace rpct::robust
