#include "trainer/training_curves.h"

#include <boost/filesystem.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <limits>
#include <set>
#include <stdexcept>

namespace rpct {

namespace {

namespace fs = boost::filesystem;
using json = nlohmann::json;

constexpr double kMissing = std::numeric_limits<double>::quiet_NaN();

struct EpochRecord {
  double epoch, step;
  std::map<std::string, double> values;
};

struct StepRecord {
  double step, loss, lr;
};

// A numeric field of `rec`: its value; null (the trainer writes a NaN loss as null) or absent -> kMissing;
// any other type is an error naming `where` and the key.
double number(const json& rec, const std::string& key, const std::string& where) {
  if (!rec.contains(key) || rec[key].is_null()) return kMissing;
  if (!rec[key].is_number()) throw std::runtime_error(where + ": '" + key + "' is not a number: " + rec[key].dump());
  return rec[key].get<double>();
}

// Appends `r` after dropping the records a resume logs again: those whose key (step or epoch) is >= r's.
template <class R, class Key>
void append_replacing(std::vector<R>& records, R r, Key key) {
  while (!records.empty() && key(records.back()) >= key(r)) records.pop_back();
  records.push_back(std::move(r));
}

std::string metric_title(const std::string& name) {
  if (name == "top1") return "test top-1";
  if (name == "top5") return "test top-5";
  if (name == "miou") return "test mIoU";
  return name;
}

// The points of (x, y) where both are finite.
PlotSeries finite_points(const std::string& label, const std::vector<double>& x, const std::vector<double>& y) {
  PlotSeries s;
  s.label = label;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i)
    if (std::isfinite(x[i]) && std::isfinite(y[i])) s.x.push_back(x[i]), s.y.push_back(y[i]);
  return s;
}

const std::vector<double>& column(const RunCurves& run, const std::string& name) {
  static const std::vector<double> kNone;
  const auto it = run.epoch_values.find(name);
  return it == run.epoch_values.end() ? kNone : it->second;
}

}  // namespace

RunCurves read_run_curves(const std::string& path, const std::string& label) {
  RunCurves run;
  run.label = label;
  // A run directory (or a path that does not exist and is not named *.jsonl: a run directory that is missing).
  const bool is_run_dir = fs::is_directory(path) || (!fs::exists(path) && fs::path(path).extension() != ".jsonl");
  run.file = is_run_dir ? (fs::path(path) / "metrics.jsonl").string() : path;
  std::ifstream in(run.file);
  if (!in)
    throw std::runtime_error(run.file + ": cannot read (" +
                             (fs::exists(run.file) ? std::string("unreadable") : std::string("no such file")) +
                             "; a run directory holds the metrics.jsonl its training wrote)");
  std::vector<StepRecord> steps;
  std::vector<EpochRecord> epochs;
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = run.file + ":" + std::to_string(line_no);
    const json rec = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (rec.is_discarded() || !rec.is_object())
      throw std::runtime_error(where + ": not a JSON object (corrupt or truncated line): " + line.substr(0, 80));
    const std::string kind = rec.value("kind", "");
    if (kind != "step" && kind != "epoch") continue;  // other record kinds carry no curve
    const double step = number(rec, "step", where), epoch = number(rec, "epoch", where);
    if (!std::isfinite(step)) throw std::runtime_error(where + ": " + kind + " record without a numeric 'step'");
    if (kind == "step") {
      append_replacing(steps, StepRecord{step, number(rec, "loss", where), number(rec, "lr", where)},
                       [](const StepRecord& r) { return r.step; });
      continue;
    }
    if (!std::isfinite(epoch)) throw std::runtime_error(where + ": epoch record without a numeric 'epoch'");
    EpochRecord e{epoch, step, {}};
    for (const auto& [key, value] : rec.items())
      if (key != "kind" && key != "epoch" && key != "step" && (value.is_number() || value.is_null()))
        e.values[key] = number(rec, key, where);
    append_replacing(epochs, std::move(e), [](const EpochRecord& r) { return r.epoch; });
  }
  if (steps.empty() && epochs.empty())
    throw std::runtime_error(run.file + ": no step or epoch records (" + std::to_string(line_no) + " lines)");
  for (const auto& s : steps) run.step.push_back(s.step), run.step_loss.push_back(s.loss), run.step_lr.push_back(s.lr);
  std::set<std::string> names;
  for (const auto& e : epochs)
    for (const auto& [name, v] : e.values) names.insert(name);
  for (const auto& e : epochs) {
    run.epoch.push_back(e.epoch);
    run.epoch_step.push_back(e.step);
    for (const auto& name : names) {
      const auto it = e.values.find(name);
      run.epoch_values[name].push_back(it == e.values.end() ? kMissing : it->second);
    }
  }
  return run;
}

std::vector<std::string> run_labels(const std::vector<std::string>& paths) {
  std::vector<std::string> names;
  std::map<std::string, int> count;
  for (const auto& raw : paths) {
    fs::path p = fs::path(raw).lexically_normal();
    if (p.filename() == ".") p = p.parent_path();
    if (!fs::is_directory(p) && p.filename() == "metrics.jsonl") p = p.parent_path();
    std::string name = p.filename().string();
    if (name.empty() || name == "." || name == "..") name = raw;
    names.push_back(name);
    ++count[name];
  }
  for (size_t i = 0; i < names.size(); ++i)
    if (count[names[i]] > 1) names[i] = paths[i];
  return names;
}

std::vector<LinePlot> training_curve_plots(const std::vector<RunCurves>& runs, CurveAxis x,
                                           const std::vector<std::string>& metrics) {
  const bool by_step = x == CurveAxis::kStep;
  const std::string x_label = by_step ? "optimizer step" : "epoch";
  auto panel = [&](const std::string& title, const std::string& y_label) {
    LinePlot p;
    p.title = title;
    p.x_label = x_label;
    p.y_label = y_label;
    return p;
  };
  // A run's (x, y) for a quantity logged per step (`per_step`) and per epoch (`epoch_key`): with x = step, its
  // step records if it has any, else its epoch records at their step; with x = epoch, its epoch records.
  auto curve = [&](const RunCurves& r, const std::vector<double>& per_step, const std::string& epoch_key) {
    if (by_step && !r.step.empty()) return finite_points(r.label, r.step, per_step);
    return finite_points(r.label, by_step ? r.epoch_step : r.epoch, column(r, epoch_key));
  };
  std::vector<LinePlot> plots;
  auto add = [&](LinePlot p) {
    std::vector<PlotSeries> drawn;
    for (auto& s : p.series)
      if (!s.x.empty()) drawn.push_back(std::move(s));
    p.series = std::move(drawn);
    if (!p.series.empty()) plots.push_back(std::move(p));
  };
  LinePlot loss = panel("train loss", "loss");
  for (const auto& r : runs) loss.series.push_back(curve(r, r.step_loss, "train_loss"));
  add(std::move(loss));
  for (const auto& m : metrics) {
    LinePlot p = panel(metric_title(m) + " (end of epoch)", metric_title(m));
    for (const auto& r : runs)
      p.series.push_back(finite_points(r.label, by_step ? r.epoch_step : r.epoch, column(r, m)));
    add(std::move(p));
  }
  LinePlot lr = panel("learning rate", "lr");
  for (const auto& r : runs) lr.series.push_back(curve(r, r.step_lr, "lr"));
  add(std::move(lr));
  if (plots.empty()) throw std::invalid_argument("training curves: no run has a point to draw");
  return plots;
}

}  // namespace rpct
