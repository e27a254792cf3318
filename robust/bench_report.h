// The benchmark's outputs from its per-checkpoint results: the summary of one checkpoint (mCE etc. from its
// suite items), the console table, the Markdown table like the paper's (rows = checkpoints; clean top-1,
// mCE, A, R, O AUPR, attacks at each eps) and the SVG plots (accuracy vs severity per corruption family,
// error bars = spread over the family's corruptions; accuracy vs eps per attack and input space).
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

namespace rpct::robust {

// Item keys: "clean", "c/<corruption>/<severity>", "a", "r", "o", "<attack>/<space>/<eps in 1/255>".
// items: key -> that item's result ({"top1": ...} etc., see bench_classify.cpp). Returns
// {"clean_top1", "c": {mce, relative_mce, ce, relative_ce, accuracy, family_*}, "a_top1", "r_top1",
//  "o": {aupr, auroc, fpr95}, "attacks": {attack: {space: {eps: {top1, flip_rate, clean_top1}}}}},
// each part only when its items are there (c: when every severity of a corruption is).
nlohmann::json summarize_items(const nlohmann::json& items);

// One row per checkpoint ({"label", "summary"} objects); percentages with 2 decimals; "-" where absent.
std::string console_table(const std::vector<nlohmann::json>& checkpoints);
std::string markdown_table(const std::vector<nlohmann::json>& checkpoints);

// (file name, SVG text) of every plot the summaries allow.
std::vector<std::pair<std::string, std::string>> bench_plots(const std::vector<nlohmann::json>& checkpoints);

}  // namespace rpct::robust
