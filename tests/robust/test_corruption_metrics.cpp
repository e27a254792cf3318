// mCE, relative mCE and family accuracies (robust/corruption_metrics.h) from hand-made error tables; family means
// over any number of severities; AlexNet's normalisation table against the published values.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "robust/corruption_metrics.h"
#include "tests/expect_error.h"

namespace {

using namespace rpct::robust;

// The summaries are short sums of doubles.
constexpr double kSumTolerance = 1e-12;

// The published AlexNet errors that normalise mCE, written here independently of robust/corruption_metrics.cpp.
// Source: hendrycks/robustness (https://github.com/hendrycks/robustness, ImageNet-C), D. Hendrycks and
// T. Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and Perturbations", ICLR 2019:
// AlexNet's top-1 error per corruption, the mean over the 5 severities.
const std::map<std::string, double>& published_alexnet_errors() {
  static const std::map<std::string, double> kPublished = {
      {"gaussian_noise", 0.886428}, {"shot_noise", 0.894468},   {"impulse_noise", 0.922640},
      {"defocus_blur", 0.819880},   {"glass_blur", 0.826268},   {"motion_blur", 0.785948},
      {"zoom_blur", 0.798360},      {"snow", 0.866816},         {"frost", 0.826572},
      {"fog", 0.819324},            {"brightness", 0.564592},   {"contrast", 0.853204},
      {"elastic_transform", 0.646056}, {"pixelate", 0.717840}, {"jpeg_compression", 0.606500},
  };
  return kPublished;
}
// AlexNet's clean top-1 error for relative mCE (the same source's relative-mCE normaliser): 1 - 0.56522, the
// acc@1 of the torchvision AlexNet checkpoint that hendrycks/robustness ImageNet-C/test.py evaluates.
constexpr double kPublishedAlexNetCleanError = 0.43478;

// Every one of the 15 constants, and the clean error, is the published number. Compared exactly: both sides are
// the same 6-digit decimal literal, which the compiler rounds to the same double (a typo in any digit differs).
TEST(CorruptionMetrics, AlexNetTableIsThePublishedOne) {
  ASSERT_EQ(published_alexnet_errors().size(), static_cast<size_t>(kNumBenchmarkCorruptions));
  for (int i = 0; i < kNumBenchmarkCorruptions; ++i) {
    const std::string& name = corruption_names()[i];
    ASSERT_EQ(published_alexnet_errors().count(name), 1u) << name << " is not one of the 15 published corruptions";
    EXPECT_EQ(alexnet_corruption_error(static_cast<Corruption>(i)), published_alexnet_errors().at(name)) << name;
  }
  EXPECT_EQ(kAlexNetCleanError, kPublishedAlexNetCleanError);
  // The 4 extra corruptions have no published AlexNet error: asking is an error naming them.
  for (int i = kNumBenchmarkCorruptions; i < kNumCorruptions; ++i)
    rpct::test::expect_error_naming([i] { alexnet_corruption_error(static_cast<Corruption>(i)); },
                                    {corruption_names()[i]});
}

// mCE and relative mCE of a made-up model on all 15 corruptions, against numbers worked out outside the code:
// the model's error at severity s on the i-th corruption (enum order) is s / 10 + i / 100, so its row sums to
// 1.5 + 0.05 i; clean error 0.05. CE_i = (1.5 + 0.05 i) / (5 A_i), relative CE_i = (1.5 + 0.05 i - 5 x 0.05) /
// (5 (A_i - 0.43478)), with A_i the published AlexNet error; expected values in exact rational arithmetic
// (Python's fractions.Fraction on the decimal literals), rounded to 17 digits.
TEST(CorruptionMetrics, MadeUpModelAgainstHandComputedMce) {
  struct Expected {
    double ce, relative_ce;
  };
  const std::map<std::string, Expected> expected = {
      {"gaussian_noise", {0.33843696273132168, 0.55352841150630583}},
      {"shot_noise", {0.34657472374640569, 0.5656010163415186}},
      {"impulse_noise", {0.34683083326107689, 0.55343746156684293}},
      {"defocus_blur", {0.40249792652583305, 0.72708387431835886}},
      {"glass_blur", {0.41148876635667847, 0.74076344613372569}},
      {"motion_blur", {0.44532208237695114, 0.85429196282121378}},
      {"zoom_blur", {0.45092439500977005, 0.85263215798448755}},
      {"snow", {0.4268495274660366, 0.74067901748928333}},
      {"frost", {0.45973006586238102, 0.84228366071793193}},
      {"fog", {0.47600216764064035, 0.88416410085711905}},
      {"brightness", {0.70847620936888944, 2.6962068221736049}},
      {"contrast", {0.48054158208353454, 0.86037129801349832}},
      {"elastic_transform", {0.65009844347858392, 1.7512637497870085}},
      {"pixelate", {0.59901928006240945, 1.3424715607998303}},
      {"jpeg_compression", {0.72547403132728772, 2.2711390635918938}},
  };
  constexpr double kExpectedMce = 0.48455113315318665, kExpectedRelativeMce = 1.0823945069401748;
  std::map<std::string, std::vector<double>> errors;
  for (int i = 0; i < kNumBenchmarkCorruptions; ++i)
    for (int s = 1; s <= kNumSeverities; ++s) errors[corruption_names()[i]].push_back(s / 10.0 + i / 100.0);
  const auto summary = summarize_corruptions(errors, 0.05);
  EXPECT_EQ(summary.mce_corruptions, 15);
  for (const auto& [name, e] : expected) {
    EXPECT_NEAR(summary.ce.at(name), e.ce, kSumTolerance) << name;
    EXPECT_NEAR(summary.relative_ce.at(name), e.relative_ce, kSumTolerance) << name;
  }
  EXPECT_NEAR(summary.mce, kExpectedMce, kSumTolerance);
  EXPECT_NEAR(summary.relative_mce, kExpectedRelativeMce, kSumTolerance);
}

TEST(CorruptionMetrics, AlexNetItselfScoresOneHundred) {
  // A model with AlexNet's errors on all 15 corruptions (the same at every severity) and AlexNet's clean error
  // has mCE = relative mCE = 1 (100%).
  std::map<std::string, std::vector<double>> errors;
  for (int i = 0; i < kNumBenchmarkCorruptions; ++i) {
    const auto c = static_cast<Corruption>(i);
    errors[corruption_names()[i]] = std::vector<double>(kNumSeverities, alexnet_corruption_error(c));
  }
  const auto s = summarize_corruptions(errors, kAlexNetCleanError);
  EXPECT_EQ(s.mce_corruptions, 15);
  EXPECT_NEAR(s.mce, 1.0, kSumTolerance);
  EXPECT_NEAR(s.relative_mce, 1.0, kSumTolerance);
  EXPECT_NEAR(s.ce.at("fog"), 1.0, kSumTolerance);
}

TEST(CorruptionMetrics, HandMadeTable) {
  const std::map<std::string, std::vector<double>> errors = {
      {"gaussian_noise", {0.5, 0.6, 0.7, 0.8, 0.9}},
      {"contrast", {0.2, 0.2, 0.3, 0.4, 0.4}},
      {"fog", {0.1, 0.1, 0.1, 0.1, 0.1}},
      {"saturate", {0.3, 0.3, 0.3, 0.3, 0.3}},  // an extra corruption: in its family, not in mCE
  };
  const double clean = 0.1;
  const auto s = summarize_corruptions(errors, clean);
  // CE = sum of errors / (5 x AlexNet's severity-mean error).
  const double ce_noise = 3.5 / (5 * 0.886428), ce_contrast = 1.5 / (5 * 0.853204), ce_fog = 0.5 / (5 * 0.819324);
  EXPECT_NEAR(s.ce.at("gaussian_noise"), ce_noise, kSumTolerance);
  EXPECT_NEAR(s.ce.at("contrast"), ce_contrast, kSumTolerance);
  EXPECT_EQ(s.ce.count("saturate"), 0u);
  EXPECT_EQ(s.mce_corruptions, 3);
  EXPECT_NEAR(s.mce, (ce_noise + ce_contrast + ce_fog) / 3, kSumTolerance);
  // Relative CE = sum of (E - E_clean) / (5 x (AlexNet's error - AlexNet's clean error)).
  const double rel_noise = (3.5 - 5 * clean) / (5 * (0.886428 - kAlexNetCleanError));
  const double rel_contrast = (1.5 - 5 * clean) / (5 * (0.853204 - kAlexNetCleanError));
  const double rel_fog = (0.5 - 5 * clean) / (5 * (0.819324 - kAlexNetCleanError));
  EXPECT_NEAR(s.relative_ce.at("gaussian_noise"), rel_noise, kSumTolerance);
  EXPECT_NEAR(s.relative_mce, (rel_noise + rel_contrast + rel_fog) / 3, kSumTolerance);
  // Families: digital = contrast + saturate (accuracies averaged per severity), weather = fog.
  const auto& digital = s.family_accuracy_by_severity.at("digital");
  EXPECT_NEAR(digital[0], (0.8 + 0.7) / 2, kSumTolerance);
  EXPECT_NEAR(digital[4], (0.6 + 0.7) / 2, kSumTolerance);
  EXPECT_NEAR(s.family_accuracy_std_by_severity.at("digital")[0], 0.05, kSumTolerance);
  EXPECT_NEAR(s.family_accuracy.at("weather"), 0.9, kSumTolerance);
  EXPECT_NEAR(s.family_accuracy.at("noise"), 0.3, kSumTolerance);
  EXPECT_EQ(s.family_accuracy.count("blur"), 0u);
}

// family_means on the severities a run evaluated (bench segment's --severities): rows of any common length.
TEST(CorruptionMetrics, FamilyMeansOverTheSeveritiesGiven) {
  const auto f = family_means({{"gaussian_noise", {0.5, 0.1}}, {"shot_noise", {0.3, 0.3}}, {"fog", {0.9, 0.7}}});
  ASSERT_EQ(f.by_severity.at("noise").size(), 2u);
  EXPECT_NEAR(f.by_severity.at("noise")[0], 0.4, kSumTolerance);
  EXPECT_NEAR(f.by_severity.at("noise")[1], 0.2, kSumTolerance);
  EXPECT_NEAR(f.std_by_severity.at("noise")[0], 0.1, kSumTolerance);  // population std of {0.5, 0.3}
  EXPECT_NEAR(f.std_by_severity.at("weather")[1], 0.0, kSumTolerance);
  EXPECT_NEAR(f.overall.at("noise"), 0.3, kSumTolerance);
  EXPECT_NEAR(f.overall.at("weather"), 0.8, kSumTolerance);
  EXPECT_EQ(f.overall.count("blur"), 0u);
  rpct::test::expect_error_naming([] { family_means({{"fog", {0.1, 0.2}}, {"snow", {0.1}}}); }, {"snow", "1 values"});
}

TEST(CorruptionMetrics, BadTablesAreNamed) {
  rpct::test::expect_error_naming([] { summarize_corruptions({{"fog", {0.1, 0.2}}}, 0.1); }, {"fog", "2 errors"});
  rpct::test::expect_error_naming([] { summarize_corruptions({{"rain", {0, 0, 0, 0, 0}}}, 0.1); }, {"rain"});
}

}  // namespace
