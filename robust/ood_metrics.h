// Out-of-distribution detection metrics (ImageNet-O protocol, Hendrycks et al.): the OOD examples are
// the positives, the score is how OOD an example looks (-max softmax probability). Definitions as
// scikit-learn's (ties in the score are one threshold) and the authors' calibration_tools.py:
//   AUROC  area under the ROC curve (roc_auc_score: trapezoids, a tie counts one half);
//   AUPR   average precision (average_precision_score: sum over thresholds of (R_k - R_{k-1}) P_k);
//   FPR95  the false-positive rate at the ROC point whose recall (TPR) is closest to 0.95
//          (fpr_and_fdr_at_recall with recall_level 0.95).
#pragma once
#include <vector>

namespace rpct::robust {

struct OodMetrics {
  double auroc = 0, aupr = 0, fpr95 = 0;
};

// `positive_scores` (OOD), `negative_scores` (in-distribution); each needs at least one value.
// Throws std::invalid_argument on an empty side or a non-finite score.
OodMetrics ood_metrics(const std::vector<double>& positive_scores, const std::vector<double>& negative_scores);

}  // namespace rpct::robust
