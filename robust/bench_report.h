// The benchmarks' outputs from their per-checkpoint results: tables with one row per checkpoint (console and
// Markdown) and SVG plots of a metric vs severity per corruption family, shared by every benchmark; for
// `bench classify`, the summary of one checkpoint (mCE etc. from its suite items), the Markdown table like the
// paper's (clean top-1, mCE, A, R, O AUPR, attacks at each eps) and its plots (accuracy vs severity per
// corruption family, error bars = spread over the family's corruptions; accuracy vs eps per attack and space).
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

// --- Shared by every benchmark's report (bench classify, bench segment) ---
// A table column: its header and where a checkpoint's summary keeps its value (a JSON pointer).
struct TableColumn {
  std::string header;
  nlohmann::json::json_pointer at;
};
// The columns at least one checkpoint's summary has.
std::vector<TableColumn> present_columns(const std::vector<nlohmann::json>& checkpoints,
                                         const std::vector<TableColumn>& columns);
// One row per checkpoint ({"label", "summary"} objects), one column each; values are fractions shown as
// percentages with 2 decimals; "-" where a summary has none. The console table ends with `footnote`, the
// Markdown table (first column `model`) with `note`.
std::string console_table(const std::vector<nlohmann::json>& checkpoints, const std::vector<TableColumn>& columns,
                          const std::string& footnote);
std::string markdown_table(const std::vector<nlohmann::json>& checkpoints, const std::vector<TableColumn>& columns,
                           const std::string& note);
// One plot per corruption family, c_<family>.svg: one series per checkpoint, y = summary[mean_at][family]
// per severity, error bars summary[std_at][family] (spread over the family's corruptions), x =
// summary[severities_at] when the summary has it, else 1..5. title: "<title prefix> <family>: ...".
std::vector<std::pair<std::string, std::string>> family_severity_plots(
    const std::vector<nlohmann::json>& checkpoints, const nlohmann::json::json_pointer& mean_at,
    const nlohmann::json::json_pointer& std_at, const nlohmann::json::json_pointer& severities_at,
    const std::string& title_prefix, const std::string& metric);

// --- bench classify ---
// The paper's columns: clean top-1, mCE, relative mCE, A, R, O AUPR, attacks at each eps.
std::string console_table(const std::vector<nlohmann::json>& checkpoints);
std::string markdown_table(const std::vector<nlohmann::json>& checkpoints);

// (file name, SVG text) of every plot the summaries allow.
std::vector<std::pair<std::string, std::string>> bench_plots(const std::vector<nlohmann::json>& checkpoints);

}  // namespace rpct::robust
