#include "robust/bench_classify.h"

#include <boost/filesystem.hpp>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <stdexcept>

#include "datasets/image_folder.h"
#include "datasets/sampler.h"
#include "robust/bench_pictures.h"
#include "robust/bench_report.h"
#include "robust/ood_metrics.h"
#include "robust/suite.h"
#include "trainer/classification.h"
#include "trainer/data.h"

namespace fs = boost::filesystem;

namespace rpct::robust {

namespace {

using json = nlohmann::json;

const std::vector<std::string> kSuiteParts = {"clean", "c", "a", "r", "o", "fgsm", "pgd", "spsa"};

std::string eps_name(double eps) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", eps);
  return buf;
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
      : cfg_(cfg), opt_(opt), norm_(input_normalization(cfg)), clean_(make_batch_source(cfg, /*train=*/false)),
        runner_(cfg, opt, dist,
                {{"spsa_iters", opt.spsa_iters}, {"imagenet_c", opt.imagenet_c}, {"imagenet_a", opt.imagenet_a},
                 {"imagenet_r", opt.imagenet_r}, {"imagenet_o", opt.imagenet_o}}) {}

  json run() {
    const auto results = runner_.run_checkpoints<ClassificationTask>(
        [&](ClassificationTask& task, const json& ckpt) { return run_items(task, ckpt); }, summarize_items);
    runner_.write_outputs("bench classify", results,
                          {console_table(results),
                           "# Robustness benchmark (" + cfg_.source + ")\n\n" + markdown_table(results),
                           bench_plots(results)});
    json summary = runner_.summary();
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
      items[key] = runner_.item(ckpt, key, compute);
    };
    if (in_suite(opt_, "clean") || in_suite(opt_, "c"))  // mCE's relative form needs the clean error
      run("clean", [&] { return runner_.eval_json(task, *runner_.make_source(clean_), "clean"); });
    if (in_suite(opt_, "c"))
      for (Corruption c : suite_corruptions(opt_))
        for (int s = 1; s <= kNumSeverities; ++s) {
          const std::string key = corruption_item_key(c, s);
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
    if (!pictures_written_ && runner_.is_root()) write_pictures(task);
    pictures_written_ = true;
    return items;
  }

  // Rank 0, with the first checkpoint: corruptions.png (the c suite) and attacks.png (FGSM / PGD at the
  // largest eps, in the first input space), of the first evaluation image.
  void write_pictures(ClassificationTask& task) {
    if (in_suite(opt_, "c") && opt_.imagenet_c.empty())
      write_corruption_grid(clean_, norm_, suite_corruptions(opt_), static_cast<uint64_t>(cfg_.train.seed), 0,
                            runner_.out() + "/corruptions.png");
    std::vector<AttackOptions> attacks;
    for (AttackKind kind : {AttackKind::kFgsm, AttackKind::kPgd})
      if (in_suite(opt_, attack_name(kind)))
        attacks.push_back(attack_options(kind, opt_.spaces.front(), *std::max_element(opt_.eps.begin(), opt_.eps.end())));
    if (!attacks.empty())
      write_attack_pictures(task, *clean_, attacks, norm_, 0, runner_.out() + "/attacks.png");
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
      auto source = runner_.make_source(folder.source, model_classes(folder.ds.wnids(), model_wnids(), dir));
      json r = runner_.eval_json(task, *source, key);
      r["source"] = dir;
      return r;
    }
    auto source = runner_.make_source(clean_);
    source->set_corruption({c, severity, static_cast<uint64_t>(cfg_.train.seed)}, norm_, cfg_.source + " (" + key + ")");
    json r = runner_.eval_json(task, *source, key);
    r["source"] = "generated";
    return r;
  }

  // ImageNet-A / -R: the folder's 200 wnids; logits restricted to them.
  json subset_item(ClassificationTask& task, const std::string& dir, const std::string& key) {
    auto folder = open_folder(cfg_, dir, cfg_.data.eval_resize);
    MaskedTopkTask masked(task, model_classes(folder.ds.wnids(), model_wnids(), dir));
    auto source = runner_.make_source(folder.source);
    json r = runner_.eval_json(masked, *source, key);
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
    auto out_source = runner_.make_source(folder.source);
    MaxSoftmaxScoreTask in_task(task, classes, in_source.size()), out_task(task, classes, out_source->size());
    runner_.eval_json(in_task, in_source, "o (in-distribution)");
    json r = runner_.eval_json(out_task, *out_source, "o (ImageNet-O)");
    const auto m = ood_metrics(out_task.scores(), in_task.scores());
    return {{"aupr", m.aupr}, {"auroc", m.auroc}, {"fpr95", m.fpr95},
            {"ood_samples", out_task.scores().size()}, {"in_samples", in_task.scores().size()}};
  }

  // The benchmark's options of one attack (eps in units of 1/255).
  AttackOptions attack_options(AttackKind kind, InputSpace space, double eps) const {
    AttackOptions a;
    a.kind = kind;
    a.space = space;
    a.eps = eps / 255.0;
    a.mean = norm_.mean;
    a.std = norm_.std;
    a.spsa_iters = opt_.spsa_iters;
    a.seed = static_cast<uint64_t>(cfg_.train.seed);
    return a;
  }

  json attack_item(ClassificationTask& task, AttackKind kind, InputSpace space, double eps, const std::string& key) {
    AttackTask attack_task(task, attack_options(kind, space, eps));
    auto source = runner_.make_source(clean_);
    return runner_.eval_json(attack_task, *source, key);
  }

  const Config& cfg_;
  const BenchOptions& opt_;
  InputNormalization norm_;
  std::shared_ptr<BatchSource> clean_;
  BenchRunner runner_;
  std::vector<std::string> model_wnids_;
  bool pictures_written_ = false;
};

}  // namespace

void validate_bench_options(const Config& cfg, const BenchOptions& opt) {
  if (cfg.data.kind != "fashion_mnist" && cfg.data.kind != "imagenet")
    throw std::invalid_argument(cfg.source + ": data.kind '" + cfg.data.kind +
                                "': bench classify needs a classification config (fashion_mnist, imagenet)");
  validate_run_options(opt, kSuiteParts);
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
}

json run_classify_bench(const Config& cfg, const BenchOptions& opt, DistContext& dist) {
  validate_bench_options(cfg, opt);
  return ClassifyBench(cfg, opt, dist).run();
}

}  // namespace rpct::robust
