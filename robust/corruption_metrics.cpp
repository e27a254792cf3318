#include "robust/corruption_metrics.h"

#include <cmath>
#include <stdexcept>

namespace rpct::robust {

double alexnet_corruption_error(Corruption c) {
  // hendrycks/robustness, ImageNet-C: AlexNet errors per corruption (severity means), enum order.
  static const double kAlexNet[kNumBenchmarkCorruptions] = {
      0.886428, 0.894468, 0.922640,            // gaussian, shot, impulse noise
      0.819880, 0.826268, 0.785948, 0.798360,  // defocus, glass, motion, zoom blur
      0.866816, 0.826572, 0.819324, 0.564592,  // snow, frost, fog, brightness
      0.853204, 0.646056, 0.717840, 0.606500,  // contrast, elastic, pixelate, jpeg
  };
  const int i = static_cast<int>(c);
  if (i < 0 || i >= kNumBenchmarkCorruptions)
    throw std::invalid_argument("alexnet_corruption_error: '" + corruption_names().at(i) +
                                "' is not one of the 15 benchmark corruptions (no AlexNet error)");
  return kAlexNet[i];
}

const std::vector<std::string>& corruption_families() {
  static const std::vector<std::string> kFamilies = {"noise", "blur", "weather", "digital"};
  return kFamilies;
}

const std::string& corruption_family(Corruption c) {
  static const int kFamilyOf[kNumCorruptions] = {0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3,
                                                 /*speckle*/ 0, /*gaussian_blur*/ 1, /*spatter*/ 2, /*saturate*/ 3};
  return corruption_families().at(kFamilyOf[static_cast<int>(c)]);
}

FamilyMeans family_means(const std::map<std::string, std::vector<double>>& values) {
  std::map<std::string, std::vector<std::vector<double>>> family_rows;  // family -> rows of its corruptions
  size_t n = 0;
  for (const auto& [name, row] : values) {
    if (n == 0) n = row.size();
    if (row.empty() || row.size() != n)
      throw std::invalid_argument("family_means: '" + name + "' has " + std::to_string(row.size()) +
                                  " values, the others " + std::to_string(n) + " (one per severity)");
    family_rows[corruption_family(corruption_from_name(name))].push_back(row);
  }
  FamilyMeans f;
  for (const auto& [family, rows] : family_rows) {
    std::vector<double> mean(n, 0.0), sd(n, 0.0);
    double all = 0;
    for (size_t k = 0; k < n; ++k) {
      for (const auto& r : rows) mean[k] += r[k] / rows.size();
      for (const auto& r : rows) sd[k] += (r[k] - mean[k]) * (r[k] - mean[k]) / rows.size();
      sd[k] = std::sqrt(sd[k]);  // population std over the family's corruptions
      all += mean[k] / n;
    }
    f.by_severity[family] = mean;
    f.std_by_severity[family] = sd;
    f.overall[family] = all;
  }
  return f;
}

CorruptionSummary summarize_corruptions(const std::map<std::string, std::vector<double>>& errors, double clean_error) {
  CorruptionSummary s;
  std::map<std::string, std::vector<double>> accuracy;  // corruption -> accuracy at severities 1..5
  for (const auto& [name, errs] : errors) {
    const Corruption c = corruption_from_name(name);
    if (errs.size() != static_cast<size_t>(kNumSeverities))
      throw std::invalid_argument("summarize_corruptions: '" + name + "' has " + std::to_string(errs.size()) +
                                  " errors, expected one per severity (" + std::to_string(kNumSeverities) + ")");
    double sum = 0, rel = 0;
    for (double e : errs) {
      accuracy[name].push_back(1 - e);
      sum += e;
      rel += e - clean_error;
    }
    if (static_cast<int>(c) >= kNumBenchmarkCorruptions) continue;
    const double alex = alexnet_corruption_error(c);
    s.ce[name] = sum / (kNumSeverities * alex);
    s.relative_ce[name] = rel / (kNumSeverities * (alex - kAlexNetCleanError));
    s.mce += s.ce[name];
    s.relative_mce += s.relative_ce[name];
    ++s.mce_corruptions;
  }
  if (s.mce_corruptions > 0) {
    s.mce /= s.mce_corruptions;
    s.relative_mce /= s.mce_corruptions;
  }
  if (!accuracy.empty()) {
    auto f = family_means(accuracy);
    s.family_accuracy_by_severity = std::move(f.by_severity);
    s.family_accuracy_std_by_severity = std::move(f.std_by_severity);
    s.family_accuracy = std::move(f.overall);
  }
  return s;
}

}  // namespace rpct::robust
