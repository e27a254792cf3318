// mCE, relative mCE and family accuracies (robust/corruption_metrics.h) from hand-made error tables; family means
// over any number of severities.
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
