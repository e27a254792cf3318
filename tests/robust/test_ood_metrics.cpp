// OOD metrics (robust/ood_metrics.h) against scikit-learn (roc_auc_score, average_precision_score) and the
// authors' FPR-at-95%-recall rule, computed by Python on the same fixed scores, plus hand-checked cases.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "robust/ood_metrics.h"
#include "tests/expect_error.h"

namespace {

using rpct::robust::ood_metrics;

// Both sides compute in float64 from the same scores, in a different order of summation.
constexpr double kSummationOrderTolerance = 1e-12;

// Fixed scores with ties inside and across the two sides (the thresholds sklearn groups).
const std::vector<double> kOod = {0.9, 0.8, 0.8, 0.7, 0.55, 0.5, 0.5, 0.3, 0.2, -0.1, 0.95, 0.6};
const std::vector<double> kIn = {0.85, 0.8, 0.6, 0.5, 0.45, 0.4, 0.3, 0.3, 0.1, 0.0, -0.2, -0.5, 0.65, 0.2};

std::string join(const std::vector<double>& v) {
  std::ostringstream o;
  o.precision(17);
  for (size_t i = 0; i < v.size(); ++i) o << (i ? "," : "") << v[i];
  return o.str();
}

// Runs the Python reference; returns its stdout.
std::string run_python(const std::string& code) {
  const char* py = std::getenv("RPCT_PYTHON");
  const std::string cmd = std::string(py ? py : "python3") + " -c '" + code + "' 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  std::string out;
  std::array<char, 512> buf{};
  while (pipe && fgets(buf.data(), buf.size(), pipe.get())) out += buf.data();
  return out;
}

TEST(OodMetrics, MatchesScikitLearnOnFixedScores) {
  // The FPR95 reference is calibration_tools.fpr_and_fdr_at_recall (the authors' code), written here with
  // sklearn's ROC points: the first point, from the full-recall end back, whose recall is nearest 0.95.
  const std::string code =
      "import numpy as np\n"
      "from sklearn.metrics import roc_auc_score, average_precision_score, roc_curve\n"
      "pos = np.array([" + join(kOod) + "]); neg = np.array([" + join(kIn) + "])\n"
      "y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]; s = np.r_[pos, neg]\n"
      "fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)\n"
      "last = int(np.argmax(tpr >= 1)); cand = np.arange(last, 0, -1)\n"
      "k = cand[np.argmin(np.abs(tpr[cand] - 0.95))]\n"
      "print(repr(float(roc_auc_score(y, s))), repr(float(average_precision_score(y, s))), repr(float(fpr[k])))\n";
  const std::string out = run_python(code);
  std::istringstream in(out);
  double auroc = -1, aupr = -1, fpr95 = -1;
  ASSERT_TRUE(in >> auroc >> aupr >> fpr95) << "the scikit-learn reference failed (scripts/setup.sh installs "
                                               "scikit-learn into the torch venv):\n"
                                            << out;
  const auto m = ood_metrics(kOod, kIn);
  EXPECT_NEAR(m.auroc, auroc, kSummationOrderTolerance);
  EXPECT_NEAR(m.aupr, aupr, kSummationOrderTolerance);
  EXPECT_NEAR(m.fpr95, fpr95, kSummationOrderTolerance);
  std::printf("auroc %.6f aupr %.6f fpr95 %.6f (sklearn %.6f %.6f %.6f)\n", m.auroc, m.aupr, m.fpr95, auroc, aupr,
              fpr95);
}

TEST(OodMetrics, HandCheckedCases) {
  // Perfect separation: every OOD score above every in-distribution one.
  auto m = ood_metrics({3, 4, 5}, {0, 1, 2});
  EXPECT_DOUBLE_EQ(m.auroc, 1.0);
  EXPECT_DOUBLE_EQ(m.aupr, 1.0);
  EXPECT_DOUBLE_EQ(m.fpr95, 0.0);
  // Reversed: AUROC 0; recall rises only after both negatives, at precisions 1/3 and 2/4, by 1/2 each.
  m = ood_metrics({0, 1}, {2, 3});
  EXPECT_DOUBLE_EQ(m.auroc, 0.0);
  EXPECT_DOUBLE_EQ(m.aupr, 0.5 * (1.0 / 3) + 0.5 * (2.0 / 4));
  EXPECT_DOUBLE_EQ(m.fpr95, 1.0);
  // All tied: one threshold, AUROC 1/2, AUPR = the positive fraction.
  m = ood_metrics({1, 1, 1}, {1});
  EXPECT_DOUBLE_EQ(m.auroc, 0.5);
  EXPECT_DOUBLE_EQ(m.aupr, 0.75);
}

TEST(OodMetrics, RejectsEmptySides) {
  rpct::test::expect_error_naming([] { ood_metrics({}, {1.0}); }, {"ood_metrics", "0 and 1"});
}

}  // namespace
