#include "robust/bench_classify.h"

#include <boost/filesystem.hpp>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "core/log.h"
#include "datasets/image_folder.h"
#include "datasets/sampler.h"
#include "robust/bench_report.h"
#include "robust/ood_metrics.h"
#include "robust/suite.h"
#include "trainer/checkpoint.h"
#include "trainer/classification.h"
#include "trainer/data.h"
#include "trainer/run_dir.h"
#include "trainer/runtime.h"
#include "trainer/trainer.h"
#include "trainer/weights.h"

namespace fs = boost::filesystem;

namespace rpct::robust {

namespace {

using json = nlohmann::json;

const std::set<std::string> kSuiteParts = {"clean", "c", "a", "r", "o", "fgsm", "pgd", "spsa"};

std::string eps_name(double eps) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", eps);
  return buf;
}

bool in_suite(const BenchOptions& opt, const std::string& part) {
  return std::find(opt.suite.begin(), opt.suite.end(), part) != opt.suite.end();
}

std::vector<Corruption> suite_corruptions(const BenchOptions& opt) {
  if (!opt.corruptions.empty()) return opt.corruptions;
  std::vector<Corruption> all;
  for (int i = 0; i < kNumBenchmarkCorruptions; ++i) all.push_back(static_cast<Corruption>(i));
  return all;
}

// A short, unique name per checkpoint: the file or directory name (a checkpoint dir as <run>/<step_...>).
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

// An ImageNet-layout folder <dir>/<wnid>/*.JPEG as a data set (eval transform of the config, resize `resize`).
struct FolderSet {
  ImageFolderDataset ds;
  std::shared_ptr<ImageFolderSource> source;
};
FolderSet open_folder(const Config& cfg, const std::string& dir, int eval_resize) {
  ImageFolderOptions o;
  fs::path p(dir);
  if (p.filename() == "." || p.filename().empty()) p = p.parent_path();
  o.root = p.parent_path().string().empty() ? "." : p.parent_path().string();
  o.split = p.filename().string();
  auto ds = ImageFolderDataset::open(o);
  auto so = classification_source_options(cfg, /*train=*/false);
  so.transform.eval_resize = eval_resize;
  return {ds, std::make_shared<ImageFolderSource>(ds, so)};
}

// Model class of each wnid of `folder`; a wnid the model does not know is an error naming it and the folder.
std::vector<int64_t> model_classes(const std::vector<std::string>& wnids, const std::vector<std::string>& model_wnids,
                                   const std::string& folder) {
  std::map<std::string, int64_t> index;
  for (size_t i = 0; i < model_wnids.size(); ++i) index[model_wnids[i]] = static_cast<int64_t>(i);
  std::vector<int64_t> out;
  for (const auto& w : wnids) {
    auto it = index.find(w);
    if (it == index.end())
      throw std::runtime_error(folder + ": class folder '" + w + "' is not one of the model's " +
                               std::to_string(model_wnids.size()) + " classes (the sorted train folder names)");
    out.push_back(it->second);
  }
  return out;
}

class ClassifyBench {
 public:
  ClassifyBench(const Config& cfg, const BenchOptions& opt, DistContext& dist)
      : cfg_(cfg), opt_(opt), dist_(dist), norm_(input_normalization(cfg)),
        clean_(make_batch_source(cfg, /*train=*/false)) {
    std::string out = opt.out_dir;
    if (dist.is_root()) {
      if (out.empty()) out = cfg.run.out_dir + "/bench-" + default_run_name(cfg);
      make_run_dir(out + "/items");
    }
    out_ = dist.broadcast_string(out);
    settings_ = {{"config", cfg.source},      {"config_yaml", to_yaml(cfg)},      {"seed", cfg.train.seed},   {"limit", opt.limit},
                 {"ema", opt.ema},            {"spsa_iters", opt.spsa_iters}, {"imagenet_c", opt.imagenet_c},
                 {"imagenet_a", opt.imagenet_a}, {"imagenet_r", opt.imagenet_r}, {"imagenet_o", opt.imagenet_o}};
  }

  json run() {
    configure_runtime(cfg_, dist_);
    const auto device = pick_device(cfg_, dist_);
    const auto labels = checkpoint_labels(opt_.checkpoints);
    std::vector<json> results;
    for (size_t k = 0; k < opt_.checkpoints.size(); ++k) {
      ClassificationTask task(cfg_, device);
      const auto params = named_parameters(task.model());
      load_weights(params, opt_.checkpoints[k], opt_.ema);
      json ckpt = {{"label", labels[k]}, {"checkpoint", opt_.checkpoints[k]}, {"params_sha256", params_sha256(params)}};
      if (dist_.is_root()) log_info("bench: checkpoint %s (%s): %s", labels[k].c_str(), opt_.checkpoints[k].c_str(),
                                    task.describe().c_str());
      ckpt["items"] = run_items(task, ckpt);
      ckpt["summary"] = summarize_items(ckpt["items"]);
      results.push_back(ckpt);
    }
    if (dist_.is_root()) write_outputs(results);
    json summary = {{"out", out_}, {"items_run", items_run_}, {"items_resumed", items_resumed_}};
    for (const auto& c : results) {
      json row = {{"label", c["label"]}, {"checkpoint", c["checkpoint"]}};
      const auto& s = c["summary"];
      for (const char* key : {"clean_top1", "a_top1", "r_top1"})
        if (s.contains(key)) row[key] = s[key];
      if (s.contains("c") && s["c"].contains("mce")) row["mce"] = s["c"]["mce"], row["relative_mce"] = s["c"]["relative_mce"];
      if (s.contains("o")) row["o_aupr"] = s["o"]["aupr"];
      if (s.contains("attacks"))
        for (const auto& [attack, by_space] : s["attacks"].items())
          for (const auto& [space, by_eps] : by_space.items())
            for (const auto& [eps, r] : by_eps.items()) row[attack + "_" + space + "_" + eps] = r["top1"];
      summary["checkpoints"].push_back(row);
    }
    return summary;
  }

 private:
  // Every item of the suite for one checkpoint, each run or resumed.
  json run_items(ClassificationTask& task, const json& ckpt) {
    json items = json::object();
    auto run = [&](const std::string& key, const std::function<json()>& compute) {
      items[key] = item(ckpt, key, compute);
    };
    if (in_suite(opt_, "clean") || in_suite(opt_, "c"))  // mCE's relative form needs the clean error
      run("clean", [&] { return eval_json(task, *make_source(clean_), "clean"); });
    if (in_suite(opt_, "c"))
      for (Corruption c : suite_corruptions(opt_))
        for (int s = 1; s <= kNumSeverities; ++s) {
          const std::string key = "c/" + corruption_names().at(static_cast<int>(c)) + "/" + std::to_string(s);
          run(key, [&] { return corruption_item(task, c, s, key); });
        }
    if (in_suite(opt_, "a")) run("a", [&] { return subset_item(task, opt_.imagenet_a, "a"); });
    if (in_suite(opt_, "r")) run("r", [&] { return subset_item(task, opt_.imagenet_r, "r"); });
    if (in_suite(opt_, "o")) run("o", [&] { return ood_item(task); });
    for (const char* name : {"fgsm", "pgd", "spsa"}) {
      if (!in_suite(opt_, name)) continue;
      for (InputSpace space : opt_.spaces)
        for (double eps : opt_.eps) {
          const std::string key = std::string(name) + "/" + input_space_name(space) + "/" + eps_name(eps);
          run(key, [&] { return attack_item(task, parse_attack_kind(name), space, eps, key); });
        }
    }
    return items;
  }

  // One item: resumed from <out>/items/<label>/<key>.json when --resume and it was made from the same weights
  // and settings; else computed (collectively) and written there by rank 0.
  json item(const json& ckpt, const std::string& key, const std::function<json()>& compute) {
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

  std::shared_ptr<SuiteSource> make_source(std::shared_ptr<BatchSource> inner, std::vector<int64_t> label_map = {}) {
    return std::make_shared<SuiteSource>(std::move(inner), opt_.limit, std::move(label_map));
  }

  // trainer::evaluate over `source` with a progress line; the metrics as JSON.
  json eval_json(Task& task, SuiteSource& source, const std::string& label = "") {
    const auto [begin, end] = eval_shard(source.size(), dist_.world_size(), dist_.rank());
    const int64_t bs = cfg_.train.eval_batch_size;
    source.set_progress("  " + (label.empty() ? std::string("eval") : label), (end - begin + bs - 1) / bs,
                        dist_.is_root());
    const auto r = evaluate(task, source, bs, dist_);
    source.finish_progress();
    json out = {{"samples", r.samples}};
    for (const auto& [name, v] : r.metrics) out[name] = v;
    const double skipped = dist_.allreduce_sum(static_cast<double>(source.skipped()));
    if (skipped > 0) out["skipped_samples"] = skipped;
    return out;
  }

  const std::vector<std::string>& model_wnids() {
    if (!model_wnids_.empty()) return model_wnids_;
    if (cfg_.data.kind != "imagenet")
      throw std::invalid_argument(cfg_.source + ": ImageNet-C/A/R/O folders need data.kind imagenet (the model's "
                                  "classes are the ImageNet wnids), not '" + cfg_.data.kind + "'");
    const std::string train = cfg_.data.root + "/train";
    if (fs::is_directory(train)) model_wnids_ = list_subdirs(train);
    if (model_wnids_.empty()) model_wnids_ = std::dynamic_pointer_cast<ImageFolderSource>(clean_)->dataset().wnids();
    return model_wnids_;
  }

  json corruption_item(ClassificationTask& task, Corruption c, int severity, const std::string& key) {
    const std::string name = corruption_names().at(static_cast<int>(c));
    if (!opt_.imagenet_c.empty()) {  // pre-made ImageNet-C: <root>/<corruption>/<severity>/<wnid>/*.JPEG, 224x224
      const std::string dir = opt_.imagenet_c + "/" + name + "/" + std::to_string(severity);
      auto folder = open_folder(cfg_, dir, /*eval_resize=*/cfg_.data.img_size);
      auto source = make_source(folder.source, model_classes(folder.ds.wnids(), model_wnids(), dir));
      json r = eval_json(task, *source, key);
      r["source"] = dir;
      return r;
    }
    auto source = make_source(clean_);
    source->set_corruption({c, severity, static_cast<uint64_t>(cfg_.train.seed)}, norm_, cfg_.source + " (" + key + ")");
    json r = eval_json(task, *source, key);
    r["source"] = "generated";
    return r;
  }

  // ImageNet-A / -R: the folder's 200 wnids; logits restricted to them.
  json subset_item(ClassificationTask& task, const std::string& dir, const std::string& key) {
    auto folder = open_folder(cfg_, dir, cfg_.data.eval_resize);
    MaskedTopkTask masked(task, model_classes(folder.ds.wnids(), model_wnids(), dir));
    auto source = make_source(folder.source);
    json r = eval_json(masked, *source, key);
    r["classes"] = folder.ds.num_classes();
    return r;
  }

  // ImageNet-O: OOD positives = the folder's images, in-distribution = the clean evaluation images of its
  // wnids; score = -max softmax over the logits restricted to those wnids.
  json ood_item(ClassificationTask& task) {
    const std::string& dir = opt_.imagenet_o;
    auto folder = open_folder(cfg_, dir, cfg_.data.eval_resize);
    const auto classes = model_classes(folder.ds.wnids(), model_wnids(), dir);
    const auto& val = std::dynamic_pointer_cast<ImageFolderSource>(clean_)->dataset();
    const std::set<std::string> o_wnids(folder.ds.wnids().begin(), folder.ds.wnids().end());
    std::vector<int64_t> in_dist;
    for (int64_t i = 0; i < val.size(); ++i)
      if (o_wnids.count(val.wnids().at(val.label(i)))) in_dist.push_back(i);
    if (in_dist.empty())
      throw std::runtime_error(dir + ": none of its classes is in the evaluation set " + cfg_.data.root +
                               " (in-distribution images for ImageNet-O)");
    std::vector<int64_t> in_subset;
    for (int64_t i : strided_subset(static_cast<int64_t>(in_dist.size()), opt_.limit)) in_subset.push_back(in_dist[i]);
    SuiteSource in_source(clean_, in_subset);
    auto out_source = make_source(folder.source);
    MaxSoftmaxScoreTask in_task(task, classes, in_source.size()), out_task(task, classes, out_source->size());
    eval_json(in_task, in_source, "o (in-distribution)");
    json r = eval_json(out_task, *out_source, "o (ImageNet-O)");
    const auto m = ood_metrics(out_task.scores(), in_task.scores());
    return {{"aupr", m.aupr}, {"auroc", m.auroc}, {"fpr95", m.fpr95},
            {"ood_samples", out_task.scores().size()}, {"in_samples", in_task.scores().size()}};
  }

  json attack_item(ClassificationTask& task, AttackKind kind, InputSpace space, double eps, const std::string& key) {
    AttackOptions a;
    a.kind = kind;
    a.space = space;
    a.eps = eps / 255.0;
    a.mean = norm_.mean;
    a.std = norm_.std;
    a.spsa_iters = opt_.spsa_iters;
    a.seed = static_cast<uint64_t>(cfg_.train.seed);
    AttackTask attack_task(task, a);
    auto source = make_source(clean_);
    return eval_json(attack_task, *source, key);
  }

  void write_outputs(const std::vector<json>& results) {
    json bench = {{"cmd", "bench classify"}, {"settings", settings_}, {"suite", opt_.suite}, {"checkpoints", results}};
    write_file_atomic(out_ + "/bench.json", bench.dump(1) + "\n");
    const std::string table = console_table(results);
    write_file_atomic(out_ + "/bench.md", "# Robustness benchmark (" + cfg_.source + ")\n\n" + markdown_table(results));
    for (const auto& [name, svg] : bench_plots(results)) write_file_atomic(out_ + "/" + name, svg);
    std::printf("\n%s", table.c_str());
    std::fflush(stdout);
  }

  const Config& cfg_;
  const BenchOptions& opt_;
  DistContext& dist_;
  InputNormalization norm_;
  std::shared_ptr<BatchSource> clean_;
  std::vector<std::string> model_wnids_;
  std::string out_;
  json settings_;
  int items_run_ = 0, items_resumed_ = 0;
};

}  // namespace

void validate_bench_options(const Config& cfg, const BenchOptions& opt) {
  if (cfg.data.kind != "fashion_mnist" && cfg.data.kind != "imagenet")
    throw std::invalid_argument(cfg.source + ": data.kind '" + cfg.data.kind +
                                "': bench classify needs a classification config (fashion_mnist, imagenet)");
  if (opt.checkpoints.empty()) throw std::invalid_argument("--checkpoint: at least one is needed");
  if (opt.suite.empty()) throw std::invalid_argument("--suite: empty");
  for (const auto& part : opt.suite)
    if (!kSuiteParts.count(part))
      throw std::invalid_argument("--suite: unknown part '" + part + "' (clean, c, a, r, o, fgsm, pgd, spsa)");
  const std::pair<const char*, const std::string*> folders[] = {
      {"a", &opt.imagenet_a}, {"r", &opt.imagenet_r}, {"o", &opt.imagenet_o}};
  for (const auto& [part, dir] : folders)
    if (in_suite(opt, part) && dir->empty())
      throw std::invalid_argument(std::string("--suite ") + part + " needs --imagenet-" + part + " DIR");
  if (in_suite(opt, "o") && cfg.data.kind != "imagenet")
    throw std::invalid_argument("--suite o: needs data.kind imagenet (in-distribution images from its val set)");
  if (opt.eps.empty() && (in_suite(opt, "fgsm") || in_suite(opt, "pgd") || in_suite(opt, "spsa")))
    throw std::invalid_argument("--eps: empty");
  for (double e : opt.eps)
    if (!(e > 0)) throw std::invalid_argument("--eps: every eps must be > 0 (units of 1/255), got " + eps_name(e));
  if (opt.spaces.empty()) throw std::invalid_argument("--space: empty");
  if (opt.spsa_iters < 1) throw std::invalid_argument("--spsa-iters: must be >= 1");
  if (opt.resume && opt.out_dir.empty()) throw std::invalid_argument("--resume needs --out DIR (the folder to resume)");
}

json run_classify_bench(const Config& cfg, const BenchOptions& opt, DistContext& dist) {
  validate_bench_options(cfg, opt);
  return ClassifyBench(cfg, opt, dist).run();
}

}  // namespace rpct::robust
