// ImageNet-C summary metrics (Hendrycks & Dietterich 2019) from a table of top-1 errors per corruption and
// severity:
//   CE_c          = sum_s E(c, s) / sum_s E_AlexNet(c, s)   (AlexNet's errors below are severity means)
//   relative CE_c = sum_s (E(c, s) - E_clean) / sum_s (E_AlexNet(c, s) - E_AlexNet_clean)
//   mCE, relative mCE: the means over the 15 benchmark corruptions present in the table.
// Also the mean accuracy per family (noise / blur / weather / digital) at each severity and overall.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "robust/corruptions.h"

namespace rpct::robust {

// AlexNet's top-1 error on each benchmark corruption, averaged over the 5 severities (the published table
// used for mCE; gaussian_noise .886428 ... jpeg_compression .606500). Indexed by Corruption, the 15 only.
double alexnet_corruption_error(Corruption c);
// AlexNet's clean top-1 error, for relative mCE: 1 - 0.56522, torchvision's published acc@1 of
// AlexNet_Weights.IMAGENET1K_V1 (https://pytorch.org/vision/stable/models/generated/torchvision.models.alexnet.html),
// the checkpoint alexnet-owt-4df8aa71.pth that hendrycks/robustness ImageNet-C/test.py evaluates as `alexnet`.
// (The RPC-Attention code, rachtsy/KPCA_code, reports mCE only, no relative mCE.)
constexpr double kAlexNetCleanError = 0.43478;

// The family of a corruption: "noise", "blur", "weather" or "digital" (the 4 extra ones in theirs:
// speckle_noise -> noise, gaussian_blur -> blur, spatter -> weather, saturate -> digital).
const std::string& corruption_family(Corruption c);
const std::vector<std::string>& corruption_families();  // the 4, in the paper's order

struct CorruptionSummary {
  std::map<std::string, double> ce, relative_ce;  // per benchmark corruption present (fractions, 1 = AlexNet)
  double mce = 0, relative_mce = 0;               // means over them; 0 when none is present
  int mce_corruptions = 0;                        // how many of the 15 the means cover
  // family -> mean accuracy over its corruptions present, per severity (index s-1) and over all severities.
  std::map<std::string, std::vector<double>> family_accuracy_by_severity, family_accuracy_std_by_severity;
  std::map<std::string, double> family_accuracy;
};

// Per corruption family: the mean over its corruptions present, at each severity, with the population std
// over them (the plots' error bars), and the mean over the severities. values: corruption name -> one value
// per severity evaluated (accuracy, mIoU, ...), every row the same length; throws std::invalid_argument
// naming an unknown corruption or a row of another length.
struct FamilyMeans {
  std::map<std::string, std::vector<double>> by_severity, std_by_severity;
  std::map<std::string, double> overall;
};
FamilyMeans family_means(const std::map<std::string, std::vector<double>>& values);

// errors: corruption name -> the top-1 error at severities 1..5 (5 values); clean_error: the model's clean
// top-1 error. Throws std::invalid_argument naming an unknown corruption or a row without 5 values.
CorruptionSummary summarize_corruptions(const std::map<std::string, std::vector<double>>& errors, double clean_error);

}  // namespace rpct::robust
