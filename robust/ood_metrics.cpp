#include "robust/ood_metrics.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

namespace rpct::robust {

namespace {

constexpr double kRecallLevel = 0.95;  // FPR95: the recall (TPR) the detector must reach

struct RocPoint {
  double tp, fp;  // counts at or above one threshold
};

// The ROC points at every distinct score, from the highest threshold down (sklearn's
// _binary_clf_curve): cumulative true and false positives.
std::vector<RocPoint> roc_points(const std::vector<double>& pos, const std::vector<double>& neg) {
  std::vector<std::pair<double, bool>> all;  // (score, is positive)
  all.reserve(pos.size() + neg.size());
  for (double s : pos) all.emplace_back(s, true);
  for (double s : neg) all.emplace_back(s, false);
  for (const auto& [s, p] : all)
    if (!std::isfinite(s)) throw std::invalid_argument("ood_metrics: a score is not finite");
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<RocPoint> pts;
  double tp = 0, fp = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    (all[i].second ? tp : fp) += 1;
    if (i + 1 == all.size() || all[i + 1].first != all[i].first) pts.push_back({tp, fp});
  }
  return pts;
}

}  // namespace

OodMetrics ood_metrics(const std::vector<double>& positive_scores, const std::vector<double>& negative_scores) {
  if (positive_scores.empty() || negative_scores.empty())
    throw std::invalid_argument("ood_metrics: needs OOD (positive) and in-distribution (negative) scores, got " +
                                std::to_string(positive_scores.size()) + " and " +
                                std::to_string(negative_scores.size()));
  const auto pts = roc_points(positive_scores, negative_scores);
  const double P = static_cast<double>(positive_scores.size()), N = static_cast<double>(negative_scores.size());
  OodMetrics m;
  double prev_tpr = 0, prev_fpr = 0, prev_recall = 0;
  for (const auto& p : pts) {
    const double tpr = p.tp / P, fpr = p.fp / N;
    m.auroc += (fpr - prev_fpr) * (tpr + prev_tpr) / 2;  // trapezoid
    m.aupr += (tpr - prev_recall) * (p.tp / (p.tp + p.fp));  // step: (R_k - R_{k-1}) P_k
    prev_tpr = prev_recall = tpr;
    prev_fpr = fpr;
  }
  // calibration_tools.fpr_and_fdr_at_recall: the points from the first one reaching full recall back to the
  // highest threshold (np.argmin: the first of them closest to the recall level). The point it appends
  // after them has recall 1 too, so it never wins a tie against the first full-recall point.
  size_t last = 0;
  while (pts[last].tp < P) ++last;
  double best = std::abs(1.0 - kRecallLevel) + 1;  // larger than any distance
  for (size_t k = last + 1; k-- > 0;) {
    const double d = std::abs(pts[k].tp / P - kRecallLevel);
    if (d < best) {
      best = d;
      m.fpr95 = pts[k].fp / N;
    }
  }
  return m;
}

}  // namespace rpct::robust
