#include "robust/bench_segment.h"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "datasets/ade20k.h"
#include "robust/bench_pictures.h"
#include "robust/bench_report.h"
#include "robust/corruption_metrics.h"
#include "robust/suite.h"
#include "trainer/data.h"
#include "trainer/segmentation.h"

namespace rpct::robust {

namespace {

using json = nlohmann::json;

const std::vector<std::string> kSegmentSuiteParts = {"clean", "c"};

std::string join(const std::vector<int>& values) {
  std::string s;
  for (int v : values) s += (s.empty() ? "" : ",") + std::to_string(v);
  return s;
}

// Columns: clean mIoU, each corruption's mean mIoU (in the package's order), the mean over the corruptions.
std::vector<TableColumn> segment_columns() {
  std::vector<TableColumn> cols = {{"clean mIoU", json::json_pointer("/clean/miou")}};
  for (const auto& name : corruption_names()) cols.push_back({name, json::json_pointer("/c/mean_miou/" + name)});
  cols.push_back({"mean", json::json_pointer("/c/mean")});
  return cols;
}

class SegmentBench {
 public:
  SegmentBench(const Config& cfg, const SegmentBenchOptions& opt, DistContext& dist)
      : cfg_(cfg), opt_(opt), val_(open_ade20k(cfg, /*train=*/false)), runner_(cfg, opt, dist, json::object()) {}

  json run() {
    const auto results = runner_.run_checkpoints<SegmentationTask>(
        [&](SegmentationTask& task, const json& ckpt) { return run_items(task, ckpt); }, summarize_segment_items);
    const auto cols = present_columns(results, segment_columns());
    const std::string note = "Percent. mIoU over the classes present (mmseg's nanmean); a corruption's column: its "
                             "mean mIoU over severities " + join(opt_.severities) +
                             "; mean: over the corruptions. Corruptions applied to each image before the eval "
                             "transform, labels untouched.";
    runner_.write_outputs(
        "bench segment", results,
        {console_table(results, cols, "(" + note + ")"),
         "# Segmentation robustness benchmark (" + cfg_.source + ")\n\n" + markdown_table(results, cols, note),
         family_severity_plots(results, json::json_pointer("/c/family_miou_by_severity"),
                               json::json_pointer("/c/family_miou_std_by_severity"),
                               json::json_pointer("/c/severities"), "corruption family", "mIoU")});
    json summary = runner_.summary();
    for (const auto& c : results) {
      json row = {{"label", c["label"]}, {"checkpoint", c["checkpoint"]}};
      const auto& s = c["summary"];
      if (s.contains("clean"))
        for (const char* m : {"miou", "macc", "aacc"}) row[std::string("clean_") + m] = s["clean"][m];
      if (s.contains("c")) row["c_mean_miou"] = s["c"]["mean"], row["c_miou"] = s["c"]["mean_miou"];
      summary["checkpoints"].push_back(row);
    }
    return summary;
  }

 private:
  json run_items(SegmentationTask& task, const json& ckpt) {
    json items = json::object();
    if (in_suite(opt_, "clean"))
      items["clean"] = runner_.item(ckpt, "clean", [&] { return evaluate_on(task, nullptr, "clean"); });
    if (in_suite(opt_, "c"))
      for (Corruption c : suite_corruptions(opt_))
        for (int s : opt_.severities) {
          const std::string key = corruption_item_key(c, s);
          items[key] = runner_.item(ckpt, key, [&] {
            json r = evaluate_on(task, image_corruption({c, s, static_cast<uint64_t>(cfg_.train.seed)}), key);
            r["source"] = "generated";
            return r;
          });
        }
    if (!pictures_written_ && runner_.is_root() && in_suite(opt_, "c"))
      write_segmentation_corruption_grid(task, [&](auto edit) { return source_with(std::move(edit)); },
                                         suite_corruptions(opt_), kPictureSeverity,
                                         static_cast<uint64_t>(cfg_.train.seed), 0,
                                         runner_.out() + "/corruption_predictions.png");
    pictures_written_ = true;
    return items;
  }

  // The validation source (through the run's --limit), each image changed by `edit` (when given) before the
  // eval transform.
  std::shared_ptr<SuiteSource> source_with(std::function<void(Image&, int64_t)> edit) {
    auto options = segmentation_source_options(cfg_, /*train=*/false);
    options.eval_image_edit = std::move(edit);
    return runner_.make_source(std::make_shared<Ade20kEvalSource>(val_, options));
  }

  // The segmentation Task's evaluation on the validation images, each changed by `edit` (when given) before
  // the eval transform.
  json evaluate_on(SegmentationTask& task, std::function<void(Image&, int64_t)> edit, const std::string& label) {
    return runner_.eval_json(task, *source_with(std::move(edit)), label);
  }

  // The severity of corruption_predictions.png (the middle one, as ImageNet-C's pictures show).
  static constexpr int kPictureSeverity = 3;
  bool pictures_written_ = false;

  const Config& cfg_;
  const SegmentBenchOptions& opt_;
  Ade20kDataset val_;
  BenchRunner runner_;
};

}  // namespace

json summarize_segment_items(const json& items) {
  json s = json::object();
  if (items.contains("clean"))
    s["clean"] = {{"miou", items["clean"]["miou"]}, {"macc", items["clean"]["macc"]}, {"aacc", items["clean"]["aacc"]}};
  std::map<std::string, std::map<int, double>> by_corruption;  // corruption -> severity -> mIoU
  std::set<int> severities;
  for (const auto& [key, r] : items.items()) {
    std::vector<std::string> parts;
    std::stringstream ss(key);
    for (std::string p; std::getline(ss, p, '/');) parts.push_back(p);
    if (parts.size() != 3 || parts[0] != "c") continue;
    const int severity = std::stoi(parts[2]);
    by_corruption[parts[1]][severity] = r["miou"].get<double>();
    severities.insert(severity);
  }
  std::map<std::string, std::vector<double>> rows;  // corruptions with every severity
  for (const auto& [name, by_severity] : by_corruption) {
    if (by_severity.size() != severities.size()) continue;
    for (const auto& [severity, miou] : by_severity) rows[name].push_back(miou);
  }
  if (rows.empty()) return s;
  json c = {{"severities", std::vector<int>(severities.begin(), severities.end())}, {"miou", rows}};
  double mean = 0;
  for (const auto& [name, row] : rows) {
    double m = 0;
    for (double v : row) m += v / row.size();
    c["mean_miou"][name] = m;
    mean += m / rows.size();
  }
  c["mean"] = mean;
  const auto families = family_means(rows);
  c["family_miou_by_severity"] = families.by_severity;
  c["family_miou_std_by_severity"] = families.std_by_severity;
  c["family_miou"] = families.overall;
  s["c"] = c;
  return s;
}

void validate_segment_bench_options(const Config& cfg, const SegmentBenchOptions& opt) {
  if (cfg.data.kind != "ade20k")
    throw std::invalid_argument(cfg.source + ": data.kind '" + cfg.data.kind +
                                "': bench segment needs a segmentation config (data.kind ade20k)");
  validate_run_options(opt, kSegmentSuiteParts);
  if (in_suite(opt, "c") && opt.severities.empty()) throw std::invalid_argument("--severities: empty");
  std::set<int> seen;
  for (int s : opt.severities) {
    if (s < 1 || s > kNumSeverities)
      throw std::invalid_argument("--severities: " + std::to_string(s) + " is not in 1.." + std::to_string(kNumSeverities));
    if (!seen.insert(s).second) throw std::invalid_argument("--severities: " + std::to_string(s) + " given twice");
  }
}

json run_segment_bench(const Config& cfg, const SegmentBenchOptions& opt, DistContext& dist) {
  validate_segment_bench_options(cfg, opt);
  return SegmentBench(cfg, opt, dist).run();
}

}  // namespace rpct::robust
