#include "robust/bench_report.h"

#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "core/svg_plot.h"
#include "robust/corruption_metrics.h"

namespace rpct::robust {

namespace {

using json = nlohmann::json;

std::vector<std::string> split_key(const std::string& key) {
  std::vector<std::string> parts;
  std::stringstream ss(key);
  for (std::string p; std::getline(ss, p, '/');) parts.push_back(p);
  return parts;
}

std::string percent(const json& v) {
  if (v.is_null()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f", 100 * v.get<double>());
  return buf;
}

std::vector<TableColumn> classify_columns(const std::vector<json>& checkpoints) {
  std::vector<TableColumn> cols = {{"clean top-1", json::json_pointer("/clean_top1")},
                                   {"mCE", json::json_pointer("/c/mce")},
                                   {"rel. mCE", json::json_pointer("/c/relative_mce")},
                                   {"IN-A top-1", json::json_pointer("/a_top1")},
                                   {"IN-R top-1", json::json_pointer("/r_top1")},
                                   {"IN-O AUPR", json::json_pointer("/o/aupr")}};
  // Attack columns in the order attack, space, eps (numeric), over all checkpoints.
  std::map<std::string, std::map<std::string, std::map<double, std::string>>> attacks;
  std::set<std::string> spaces;
  for (const auto& c : checkpoints)
    if (c["summary"].contains("attacks"))
      for (const auto& [attack, by_space] : c["summary"]["attacks"].items())
        for (const auto& [space, by_eps] : by_space.items()) {
          spaces.insert(space);
          for (const auto& [eps, r] : by_eps.items()) attacks[attack][space][std::stod(eps)] = eps;
        }
  for (const char* attack : {"fgsm", "pgd", "spsa"}) {
    if (!attacks.count(attack)) continue;
    for (const auto& [space, eps_map] : attacks[attack])
      for (const auto& [eps, name] : eps_map) {
        std::string header = std::string(attack == std::string("fgsm") ? "FGSM" : attack == std::string("pgd") ? "PGD" : "SPSA");
        if (spaces.size() > 1) header += space == "pixel" ? "-px" : "-norm";
        cols.push_back({header + " " + name, json::json_pointer("/attacks/" + std::string(attack) + "/" + space + "/" +
                                                                name + "/top1")});
      }
  }
  return cols;
}

std::vector<std::vector<std::string>> table_cells(const std::vector<json>& checkpoints,
                                                  const std::vector<TableColumn>& cols) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : checkpoints) {
    std::vector<std::string> row{c["label"].get<std::string>()};
    for (const auto& col : cols) row.push_back(c["summary"].contains(col.at) ? percent(c["summary"][col.at]) : "-");
    rows.push_back(row);
  }
  return rows;
}

PlotSeries series(const std::string& label, const std::vector<double>& x, const std::vector<double>& y,
                  const std::vector<double>& err = {}) {
  PlotSeries s;
  s.label = label;
  s.x = x;
  s.y = y;
  s.err = err;
  return s;
}

}  // namespace

json summarize_items(const json& items) {
  json s = json::object();
  if (items.contains("clean")) s["clean_top1"] = items["clean"]["top1"];
  std::map<std::string, std::vector<json>> c_rows;  // corruption -> results at severities 1..5
  for (const auto& [key, r] : items.items()) {
    const auto parts = split_key(key);
    if (parts.size() == 3 && parts[0] == "c") {
      auto& row = c_rows[parts[1]];
      row.resize(kNumSeverities);
      row.at(std::stoi(parts[2]) - 1) = r;
    } else if (parts.size() == 3) {
      s["attacks"][parts[0]][parts[1]][parts[2]] = {
          {"top1", r["top1"]}, {"flip_rate", r["flip_rate"]}, {"clean_top1", r["clean_top1"]}};
    }
  }
  if (items.contains("a")) s["a_top1"] = items["a"]["top1"];
  if (items.contains("r")) s["r_top1"] = items["r"]["top1"];
  if (items.contains("o")) s["o"] = {{"aupr", items["o"]["aupr"]}, {"auroc", items["o"]["auroc"]}, {"fpr95", items["o"]["fpr95"]}};
  std::map<std::string, std::vector<double>> errors;
  json accuracy = json::object();
  for (const auto& [name, row] : c_rows) {
    bool complete = true;
    for (const auto& r : row) complete = complete && !r.is_null();
    if (!complete) continue;
    for (const auto& r : row) errors[name].push_back(1 - r["top1"].get<double>());
    for (const auto& r : row) accuracy[name].push_back(r["top1"]);
  }
  if (!errors.empty() && s.contains("clean_top1")) {
    const auto cs = summarize_corruptions(errors, 1 - s["clean_top1"].get<double>());
    s["c"] = {{"mce", cs.mce},
              {"relative_mce", cs.relative_mce},
              {"mce_corruptions", cs.mce_corruptions},
              {"ce", cs.ce},
              {"relative_ce", cs.relative_ce},
              {"accuracy", accuracy},
              {"family_accuracy", cs.family_accuracy},
              {"family_accuracy_by_severity", cs.family_accuracy_by_severity},
              {"family_accuracy_std_by_severity", cs.family_accuracy_std_by_severity}};
    if (cs.mce_corruptions == 0) s["c"].erase("mce"), s["c"].erase("relative_mce");
  }
  return s;
}

std::vector<TableColumn> present_columns(const std::vector<json>& checkpoints, const std::vector<TableColumn>& columns) {
  std::vector<TableColumn> present;
  for (const auto& col : columns)
    for (const auto& c : checkpoints)
      if (c["summary"].contains(col.at)) {
        present.push_back(col);
        break;
      }
  return present;
}

std::string console_table(const std::vector<json>& checkpoints, const std::vector<TableColumn>& cols,
                          const std::string& footnote) {
  const auto rows = table_cells(checkpoints, cols);
  std::vector<size_t> width{10};
  for (const auto& col : cols) width.push_back(col.header.size());
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  std::ostringstream o;
  auto line = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < cells.size(); ++i)
      o << (i ? "  " : "") << std::string(width[i] - cells[i].size(), ' ') << cells[i];
    o << "\n";
  };
  std::vector<std::string> header{"checkpoint"};
  for (const auto& col : cols) header.push_back(col.header);
  line(header);
  for (const auto& row : rows) line(row);
  o << footnote << "\n";
  return o.str();
}

std::string markdown_table(const std::vector<json>& checkpoints, const std::vector<TableColumn>& cols,
                           const std::string& note) {
  std::ostringstream o;
  o << "| model |";
  for (const auto& col : cols) o << " " << col.header << " |";
  o << "\n| --- |";
  for (size_t i = 0; i < cols.size(); ++i) o << " ---: |";
  o << "\n";
  for (const auto& row : table_cells(checkpoints, cols)) {
    o << "|";
    for (const auto& cell : row) o << " " << cell << " |";
    o << "\n";
  }
  o << "\n" << note << "\n";
  return o.str();
}

std::vector<std::pair<std::string, std::string>> family_severity_plots(
    const std::vector<json>& checkpoints, const json::json_pointer& mean_at, const json::json_pointer& std_at,
    const json::json_pointer& severities_at, const std::string& title_prefix, const std::string& metric) {
  std::vector<std::pair<std::string, std::string>> plots;
  for (const auto& family : corruption_families()) {
    LinePlot p;
    p.title = title_prefix + " " + family + ": " + metric + " vs severity (bars: spread over its corruptions)";
    p.x_label = "severity";
    p.y_label = metric;
    p.y_min = 0;
    p.y_max = 1;
    for (const auto& c : checkpoints) {
      const auto& s = c["summary"];
      if (!s.contains(mean_at) || !s[mean_at].contains(family)) continue;
      std::vector<double> severities;
      if (s.contains(severities_at))
        severities = s[severities_at].get<std::vector<double>>();
      else
        for (int k = 1; k <= kNumSeverities; ++k) severities.push_back(k);
      p.series.push_back(series(c["label"].get<std::string>(), severities, s[mean_at][family].get<std::vector<double>>(),
                                s[std_at][family].get<std::vector<double>>()));
    }
    if (!p.series.empty()) plots.emplace_back("c_" + family + ".svg", render_svg(p));
  }
  return plots;
}

std::string console_table(const std::vector<json>& checkpoints) {
  return console_table(checkpoints, present_columns(checkpoints, classify_columns(checkpoints)),
                       "(percent; mCE and relative mCE: AlexNet = 100; attacks: top-1 under attack, eps in 1/255)");
}

std::string markdown_table(const std::vector<json>& checkpoints) {
  return markdown_table(checkpoints, present_columns(checkpoints, classify_columns(checkpoints)),
                        "Percent. mCE / relative mCE: AlexNet = 100 (lower is better); IN-O: AUPR with ImageNet-O as "
                        "positives; attacks: top-1 under attack at eps (units of 1/255), labels = the model's clean "
                        "predictions.");
}

std::vector<std::pair<std::string, std::string>> bench_plots(const std::vector<json>& checkpoints) {
  auto plots = family_severity_plots(checkpoints, json::json_pointer("/c/family_accuracy_by_severity"),
                                     json::json_pointer("/c/family_accuracy_std_by_severity"),
                                     json::json_pointer("/c/severities"), "ImageNet-C", "top-1 accuracy");
  std::map<std::string, LinePlot> attack_plots;  // "<attack>_<space>"
  for (const auto& c : checkpoints) {
    if (!c["summary"].contains("attacks")) continue;
    for (const auto& [attack, by_space] : c["summary"]["attacks"].items())
      for (const auto& [space, by_eps] : by_space.items()) {
        std::map<double, std::pair<double, double>> pts;  // eps -> (top1, clean top1)
        for (const auto& [eps, r] : by_eps.items()) pts[std::stod(eps)] = {r["top1"].get<double>(), r["clean_top1"].get<double>()};
        std::vector<double> x{0}, y{pts.begin()->second.second};  // eps 0: the clean accuracy
        for (const auto& [eps, v] : pts) x.push_back(eps), y.push_back(v.first);
        auto& p = attack_plots[attack + "_" + space];
        p.title = attack + " (" + space + " space): top-1 vs eps";
        p.x_label = "eps (1/255)";
        p.y_label = "top-1 accuracy";
        p.y_min = 0;
        p.y_max = 1;
        p.series.push_back(series(c["label"].get<std::string>(), x, y));
      }
  }
  for (const auto& [name, p] : attack_plots) plots.emplace_back(name + ".svg", render_svg(p));
  return plots;
}

}  // namespace rpct::robust
