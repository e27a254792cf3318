#include "robust/bench_runner.h"

#include <boost/filesystem.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "core/file_io.h"
#include "core/log.h"
#include "datasets/sampler.h"
#include "trainer/checkpoint.h"
#include "trainer/run_dir.h"
#include "trainer/runtime.h"
#include "trainer/trainer.h"
#include "trainer/weights.h"

namespace fs = boost::filesystem;

namespace rpct::robust {

using json = nlohmann::json;

void validate_run_options(const BenchRunOptions& opt, const std::vector<std::string>& known_parts) {
  if (opt.checkpoints.empty()) throw std::invalid_argument("--checkpoint: at least one is needed");
  if (opt.suite.empty()) throw std::invalid_argument("--suite: empty");
  std::string known;
  for (const auto& p : known_parts) known += (known.empty() ? "" : ", ") + p;
  for (const auto& part : opt.suite)
    if (std::find(known_parts.begin(), known_parts.end(), part) == known_parts.end())
      throw std::invalid_argument("--suite: unknown part '" + part + "' (" + known + ")");
  if (opt.resume && opt.out_dir.empty()) throw std::invalid_argument("--resume needs --out DIR (the folder to resume)");
}

bool in_suite(const BenchRunOptions& opt, const std::string& part) {
  return std::find(opt.suite.begin(), opt.suite.end(), part) != opt.suite.end();
}

std::vector<Corruption> suite_corruptions(const BenchRunOptions& opt) {
  if (!opt.corruptions.empty()) return opt.corruptions;
  std::vector<Corruption> all;
  for (int i = 0; i < kNumBenchmarkCorruptions; ++i) all.push_back(static_cast<Corruption>(i));
  return all;
}

std::vector<std::string> checkpoint_labels(const std::vector<std::string>& paths) {
  std::vector<std::string> labels;
  std::map<std::string, int> seen;
  for (const auto& raw : paths) {
    fs::path p(raw);
    if (p.filename() == "." || p.filename().empty()) p = p.parent_path();
    std::string label = p.stem().string();
    if (p.parent_path().filename() == "ckpt") label = p.parent_path().parent_path().filename().string() + "_" + label;
    const int n = ++seen[label];
    if (n > 1) label += "-" + std::to_string(n);
    labels.push_back(label);
  }
  return labels;
}

std::string corruption_item_key(Corruption c, int severity) {
  return "c/" + corruption_names().at(static_cast<int>(c)) + "/" + std::to_string(severity);
}

BenchRunner::BenchRunner(const Config& cfg, const BenchRunOptions& opt, DistContext& dist, json settings)
    : cfg_(cfg),
      opt_(opt),
      dist_(dist),
      device_((configure_runtime(cfg, dist), pick_device(cfg, dist))),
      labels_(checkpoint_labels(opt.checkpoints)),
      settings_(std::move(settings)) {
  std::string out = opt.out_dir;
  if (dist.is_root()) {
    if (out.empty()) out = cfg.run.out_dir + "/bench-" + default_run_name(cfg);
    make_run_dir(out + "/items");
  }
  out_ = dist.broadcast_string(out);
  settings_["config"] = cfg.source;
  settings_["config_yaml"] = to_yaml(cfg);
  settings_["seed"] = cfg.train.seed;
  settings_["limit"] = opt.limit;
  settings_["ema"] = opt.ema;
}

json BenchRunner::load_checkpoint(Task& task, size_t k) {
  const auto params = named_parameters(task.model());
  load_weights(params, opt_.checkpoints[k], opt_.ema);
  if (dist_.is_root())
    log_info("bench: checkpoint %s (%s): %s", labels_[k].c_str(), opt_.checkpoints[k].c_str(), task.describe().c_str());
  return {{"label", labels_[k]}, {"checkpoint", opt_.checkpoints[k]}, {"params_sha256", params_sha256(params)}};
}

json BenchRunner::item(const json& ckpt, const std::string& key, const std::function<json()>& compute) {
  std::string file_key = key;
  std::replace(file_key.begin(), file_key.end(), '/', '.');
  const std::string dir = out_ + "/items/" + ckpt["label"].get<std::string>();
  const std::string path = dir + "/" + file_key + ".json";
  std::string saved;
  if (dist_.is_root() && opt_.resume && fs::exists(path)) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    json r = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
    if (!r.is_discarded() && r.value("params_sha256", "") == ckpt["params_sha256"] && r.value("settings", json()) == settings_)
      saved = text.str();
    else
      log_info("bench: %s: made from other weights or settings (or unreadable); running it again", path.c_str());
  }
  saved = dist_.broadcast_string(saved);
  if (!saved.empty()) {
    ++items_resumed_;
    if (dist_.is_root()) log_info("bench: %s %s: done before (%s), skipped", ckpt["label"].get<std::string>().c_str(),
                                  key.c_str(), path.c_str());
    return json::parse(saved)["result"];
  }
  json result = compute();
  ++items_run_;
  if (dist_.is_root()) {
    make_run_dir(dir);
    write_file_atomic(path, json({{"item", key},
                                  {"checkpoint", ckpt["checkpoint"]},
                                  {"params_sha256", ckpt["params_sha256"]},
                                  {"settings", settings_},
                                  {"result", result}})
                                .dump(1) + "\n");
    log_info("bench: %s %s: %s", ckpt["label"].get<std::string>().c_str(), key.c_str(), result.dump().c_str());
  }
  return result;
}

std::shared_ptr<SuiteSource> BenchRunner::make_source(std::shared_ptr<BatchSource> inner, std::vector<int64_t> label_map) {
  return std::make_shared<SuiteSource>(std::move(inner), opt_.limit, std::move(label_map));
}

json BenchRunner::eval_json(Task& task, SuiteSource& source, const std::string& label) {
  const auto [begin, end] = eval_shard(source.size(), dist_.world_size(), dist_.rank());
  const int64_t bs = cfg_.train.eval_batch_size;
  source.set_progress("  " + label, (end - begin + bs - 1) / bs, dist_.is_root());
  const auto r = evaluate(task, source, bs, dist_);
  source.finish_progress();
  json out = {{"samples", r.samples}};
  for (const auto& [name, v] : r.metrics) out[name] = v;
  const double skipped = dist_.allreduce_sum(static_cast<double>(source.skipped()));
  if (skipped > 0) out["skipped_samples"] = skipped;
  return out;
}

void BenchRunner::write_outputs(const std::string& command, const std::vector<json>& results, const BenchReport& report) {
  if (!dist_.is_root()) return;
  json bench = {{"cmd", command}, {"settings", settings_}, {"suite", opt_.suite}, {"checkpoints", results}};
  write_file_atomic(out_ + "/bench.json", bench.dump(1) + "\n");
  write_file_atomic(out_ + "/bench.md", report.markdown);
  for (const auto& [name, svg] : report.plots) write_file_atomic(out_ + "/" + name, svg);
  std::printf("\n%s", report.console_table.c_str());
  std::fflush(stdout);
}

json BenchRunner::summary() const {
  return {{"out", out_}, {"items_run", items_run_}, {"items_resumed", items_resumed_}};
}

bool BenchRunner::is_root() const { return dist_.is_root(); }

}  // namespace rpct::robust
