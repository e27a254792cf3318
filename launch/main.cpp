// The `rpctrain` binary: train / eval / inspect / export / import / launch / prepare-data / bench / report /
// plot. Every
// command prints, as its last line on stdout, one JSON object with its result (or
// {"ok":false,"error":...}); exit code 0 on success, 2 on a usage or config error, 1 on a runtime
// failure (launch/cli.h), 3 when a stop signal ended `train` with a checkpoint (core/stop_signal.h).
#include <boost/program_options.hpp>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <type_traits>
#include <sstream>

#include "core/file_io.h"
#include "core/json_result.h"
#include "core/log.h"
#include "core/stop_signal.h"
#include "core/svg_plot.h"
#include "distributed/dist_context.h"
#include "launch/cli.h"
#include "launch/launcher.h"
#include "launch/prepare_data_cli.h"
#include "models/vit_weights.h"
#include "robust/bench_classify.h"
#include "robust/bench_segment.h"
#include "trainer/checkpoint.h"
#include "trainer/config.h"
#include "trainer/data.h"
#include "trainer/run_dir.h"
#include "trainer/runtime.h"
#include "trainer/safetensors.h"
#include "trainer/segmentation.h"
#include "trainer/trainer.h"
#include "trainer/training_curves.h"
#include "trainer/weights.h"

namespace po = boost::program_options;
namespace cli = rpct::cli;
using cli::UsageError;
using rpct::print_result;

namespace {

const char* kTopHelp =
    "usage: rpctrain <command> [options]\n"
    "\n"
    "commands:\n"
    "  train   train a model:            rpctrain train --config FILE [--set key.sub=value]...\n"
    "  eval    evaluate a saved model:   rpctrain eval --config FILE --checkpoint PATH\n"
    "  prepare-data  make data sets in real layouts: rpctrain prepare-data fashion-mnist-imagenet --out DIR\n"
    "                                    rpctrain prepare-data ade20k-synthetic --out DIR\n"
    "  inspect show a checkpoint:        rpctrain inspect CKPT_DIR|RUN_DIR\n"
    "  export  weights for Python (timm / Segmenter names):\n"
    "                                    rpctrain export CKPT_DIR|RUN_DIR|FILE --format safetensors --out FILE\n"
    "  import  timm / Segmenter-named weights -> rpctrain names: rpctrain import FILE --config CFG --out FILE\n"
    "  bench   robustness benchmark:     rpctrain bench classify --config FILE --checkpoint A [--checkpoint B ...]\n"
    "                                    rpctrain bench segment --config FILE --checkpoint A [--checkpoint B ...]\n"
    "  report  training curves of runs:  rpctrain report RUN_DIR [RUN_DIR ...] --out FILE.svg\n"
    "  plot    line plots from JSON:     rpctrain plot SPEC.json --out FILE.svg\n"
    "  config  the config keys:          rpctrain config --list | rpctrain config --explain train.lr\n"
    "  launch  build and run the mpirun command: rpctrain launch --nodes 2 --hostfile H --procs-per-node 8 -- train ...\n"
    "\n"
    "Run under mpirun for data-parallel training (one process per GPU or CPU share).\n"
    "`rpctrain <command> --help` shows the command's options. The last stdout line is a JSON result.\n";

// `fields` plus the evaluation's metrics under the task's names (its "loss" as `loss_key`).
nlohmann::json with_metrics(nlohmann::json fields, const rpct::EvalResult& r, const char* loss_key) {
  for (const auto& [name, v] : r.metrics) fields[name == "loss" ? loss_key : name] = v;
  return fields;
}

// Parses a command's arguments (argv[1] is the command's name): cli::parse on argv[1..].
std::optional<po::variables_map> parse(int argc, char** argv, const po::options_description& desc,
                                       const std::string& usage, const char* positional = nullptr) {
  return cli::parse(argv[1], argc - 1, argv + 1, desc, usage, positional);
}

po::options_description config_options(const char* title) {
  auto d = cli::command_options(title);
  d.add_options()("config,c", po::value<std::string>()->required(), "YAML config file")(
      "set", po::value<std::vector<std::string>>()->composing(), "override a config key: --set train.lr=5e-4");
  return d;
}

rpct::Config load(const po::variables_map& vm) {
  std::vector<std::string> sets;
  if (vm.count("set")) sets = vm["set"].as<std::vector<std::string>>();
  return rpct::load_config(vm["config"].as<std::string>(), sets);
}

int cmd_train(int argc, char** argv, rpct::DistContext& dist) {
  auto desc = config_options("rpctrain train options");
  desc.add_options()("run-dir", po::value<std::string>(), "run directory (default: run.out_dir/run.name)")(
      "resume", po::value<std::string>()->default_value(""),
      "'auto' (newest complete, verified checkpoint of the run dir; none: start fresh), a checkpoint dir, "
      "or another run's dir (its newest complete checkpoint)");
  auto vm = parse(argc, argv, desc,
                  "usage: rpctrain train --config FILE [--set key.sub=value]... [--run-dir DIR] [--resume auto|DIR]");
  if (!vm) return 0;
  auto cfg = load(*vm);
  const auto resume = (*vm)["resume"].as<std::string>();
  if (resume == "auto" && !vm->count("run-dir") && cfg.run.name.empty() && rpct::slurm_run_name(cfg).empty())
    throw UsageError("--resume auto needs a stable run directory: set run.name or --run-dir (or run under Slurm, "
                     "where the job id names it)");
  std::string run_dir;
  if (dist.is_root()) {
    run_dir = vm->count("run-dir") ? (*vm)["run-dir"].as<std::string>()
                                   : cfg.run.out_dir + "/" + rpct::default_run_name(cfg);
    rpct::make_run_dir(run_dir);
    const std::string yaml = rpct::to_yaml(cfg);
    rpct::write_file_atomic(run_dir + "/config.yaml", yaml);
    rpct::write_file_atomic(run_dir + "/config.json", rpct::to_json(cfg));  // the same, for other languages' tools
    std::printf("# resolved config (%s), world size %d\n%s", cfg.source.c_str(), dist.world_size(), yaml.c_str());
    std::fflush(stdout);
  }
  run_dir = dist.broadcast_string(run_dir);
  auto r = rpct::train(cfg, dist, run_dir, resume);
  if (r.stopped) {
    if (dist.is_root())
      print_result({{"cmd", "train"},
                    {"ok", true},
                    {"stopped", true},
                    {"stop_signal", r.stop_signal},
                    {"step", r.steps},
                    {"checkpoint", r.checkpoint},
                    {"world_size", dist.world_size()},
                    {"params_sha256", r.params_sha256},
                    {"run_dir", r.run_dir}});
    return rpct::kExitStopped;
  }
  if (dist.is_root())
    print_result(with_metrics({{"cmd", "train"},
                               {"ok", true},
                               {"train_loss", r.train_loss},
                               {"epochs", r.epochs},
                               {"steps", r.steps},
                               {"skipped_steps", r.skipped_steps},
                               {"images_per_s", r.images_per_s},
                               {"seconds", r.seconds},
                               {"world_size", dist.world_size()},
                               {"params_sha256", r.params_sha256},
                               {"run_dir", r.run_dir}},
                              r.eval, "test_loss"));
  return 0;
}

int cmd_eval(int argc, char** argv, rpct::DistContext& dist) {
  auto desc = config_options("rpctrain eval options");
  desc.add_options()("checkpoint", po::value<std::string>()->required(),
                     "checkpoint dir (run/ckpt/step_*), a run dir (its newest complete checkpoint), "
                     "or a .safetensors file (rpctrain or timm / Segmenter names)")(
      "ema", po::bool_switch(), "evaluate the EMA weights of the checkpoint")(
      "save-predictions", po::value<std::string>()->default_value(""),
      "segmentation: write DIR/<id>.png (image | ground truth | prediction) and DIR/labels/<id>.png (the "
      "prediction, ADEChallengeData2016 label convention)")(
      "save-logits", po::value<std::string>()->default_value(""),
      "segmentation: write each image's float32 class scores at the label's resolution into FILE.safetensors")(
      "limit", cli::non_negative<int64_t>(nullptr, "--limit")->default_value(0),
      "with --save-*: that many evenly spaced images (0: all)");
  auto vm = parse(argc, argv, desc,
                  "usage: rpctrain eval --config FILE --checkpoint PATH [--set key.sub=value]...\n"
                  "         [--save-predictions DIR] [--save-logits FILE.safetensors] [--limit N]");
  if (!vm) return 0;
  const auto save_dir = (*vm)["save-predictions"].as<std::string>();
  const auto save_logits = (*vm)["save-logits"].as<std::string>();
  auto cfg = load(*vm);
  if ((!save_dir.empty() || !save_logits.empty()) && cfg.data.kind != "ade20k")
    throw UsageError("eval: --save-predictions and --save-logits are for segmentation configs (data.kind ade20k), "
                     "not data.kind " + cfg.data.kind);
  cfg.seg.backbone.clear();  // the weights come from --checkpoint; seg.backbone only initialises training
  const auto path = (*vm)["checkpoint"].as<std::string>();
  rpct::configure_runtime(cfg, dist);
  auto task = rpct::make_task(cfg, rpct::pick_device(cfg, dist));
  rpct::load_weights(rpct::named_parameters(task->model()), path, (*vm)["ema"].as<bool>());
  auto test = rpct::make_batch_source(cfg, /*train=*/false);
  auto r = rpct::evaluate(*task, *test, cfg.train.eval_batch_size, dist);
  // Rank 0 alone writes the per-image outputs (no collective inside), the others wait at the barrier.
  std::vector<std::string> saved;
  if ((!save_dir.empty() || !save_logits.empty()) && dist.is_root())
    saved = rpct::save_segmentation_outputs(dynamic_cast<rpct::SegmentationTask&>(*task), *test, save_dir, save_logits,
                                            (*vm)["limit"].as<int64_t>());
  if (!save_dir.empty() || !save_logits.empty()) dist.barrier();
  if (!dist.is_root()) return 0;
  // The task's detailed reports (segmentation: the per-class table) go into the run directory.
  const auto files = rpct::write_eval_files(r, rpct::run_dir_of(path));
  nlohmann::json result = {{"cmd", "eval"}, {"ok", true}, {"samples", r.samples}, {"checkpoint", path}, {"files", files}};
  if (!save_dir.empty()) result["predictions"] = {{"dir", save_dir}, {"images", saved.size()}};
  if (!save_logits.empty()) result["logits"] = {{"file", save_logits}, {"images", saved}};
  print_result(with_metrics(result, r, "loss"));
  return 0;
}

int cmd_inspect(int argc, char** argv) {
  auto desc = cli::command_options("rpctrain inspect options");
  desc.add_options()("checkpoint", po::value<std::string>()->required(),
                     "checkpoint dir, or a run dir (its newest complete checkpoint)");
  auto parsed = parse(argc, argv, desc, "usage: rpctrain inspect CKPT_DIR|RUN_DIR", "checkpoint");
  if (!parsed) return 0;
  const auto dir = rpct::resolve_checkpoint_dir((*parsed)["checkpoint"].as<std::string>());
  const auto meta = rpct::read_checkpoint_meta(dir);
  for (const auto& [k, v] : meta)
    if (k != "config") std::printf("%-20s %s\n", k.c_str(), v.c_str());
  const auto params = rpct::read_checkpoint_params(dir);
  int64_t n = 0;
  for (const auto& [name, t] : params) n += t.numel();
  std::printf("%-20s %zu tensors, %lld values\n", "parameters", params.size(), static_cast<long long>(n));
  print_result({{"cmd", "inspect"}, {"ok", true}, {"checkpoint", dir}, {"step", std::stoll(meta.at("step"))},
                {"world_size", std::stoi(meta.at("world_size"))}, {"params_sha256", rpct::params_sha256(params)}});
  return 0;
}

int cmd_export(int argc, char** argv) {
  auto desc = cli::command_options("rpctrain export options");
  desc.add_options()("checkpoint", po::value<std::string>()->required(),
                     "checkpoint dir, a run dir (its newest complete checkpoint), or a .safetensors file with "
                     "rpctrain names (e.g. a run's final model.safetensors)")(
      "format", po::value<std::string>()->default_value("safetensors"), "output format (safetensors)")(
      "out", po::value<std::string>()->required(), "output file")("ema", po::bool_switch(), "export the EMA weights");
  auto parsed = parse(argc, argv, desc,
                      "usage: rpctrain export CKPT_DIR|RUN_DIR|FILE --format safetensors --out FILE [--ema]",
                      "checkpoint");
  if (!parsed) return 0;
  const auto& vm = *parsed;
  if (vm["format"].as<std::string>() != "safetensors")
    throw UsageError("--format: only 'safetensors' is supported, got '" + vm["format"].as<std::string>() + "'");
  const auto out = vm["out"].as<std::string>();
  const auto tensors = rpct::to_timm_weights(rpct::read_weights(vm["checkpoint"].as<std::string>(),
                                                                 vm["ema"].as<bool>()).params);
  rpct::write_safetensors(out, tensors, {{"format", "pt"}});
  print_result({{"cmd", "export"}, {"ok", true}, {"out", out}, {"tensors", tensors.size()}});
  return 0;
}

int cmd_import(int argc, char** argv) {
  auto desc = config_options("rpctrain import options");
  desc.add_options()("weights", po::value<std::string>()->required(),
                     "safetensors file (timm / Segmenter or rpctrain names)")(
      "out", po::value<std::string>()->required(), "output .safetensors with rpctrain names, checked against --config");
  auto parsed = parse(argc, argv, desc, "usage: rpctrain import FILE --config CFG --out FILE", "weights");
  if (!parsed) return 0;
  const auto& vm = *parsed;
  auto cfg = load(vm);
  cfg.seg.backbone.clear();  // the weights come from FILE; seg.backbone only initialises training
  auto task = rpct::make_task(cfg, torch::kCPU);
  const auto tensors = rpct::named_parameters(task->model());
  rpct::load_weights(tensors, vm["weights"].as<std::string>(), false);  // checks every name and shape
  const auto out = vm["out"].as<std::string>();
  rpct::write_safetensors(out, tensors, {{"format", "rpctrain"}});
  print_result({{"cmd", "import"}, {"ok", true}, {"out", out}, {"tensors", tensors.size()},
                {"params_sha256", rpct::params_sha256(tensors)}});
  return 0;
}

const char* kBenchClassifyUsage =
    "usage: rpctrain bench classify --config FILE --checkpoint A [--checkpoint B ...]\n"
    "         [--suite clean,c,a,r,o,fgsm,pgd,spsa] [--eps 1,2,3,4,5,6] [--space normalized|pixel|both]\n"
    "         [--corruptions NAME,...] [--imagenet-c DIR] [--imagenet-a DIR] [--imagenet-r DIR] [--imagenet-o DIR]\n"
    "         [--spsa-iters N] [--limit N] [--out DIR] [--resume] [--ema] [--set key.sub=value]...\n"
    "Robustness of classification checkpoints side by side (clean, ImageNet-C mCE, A/R, O AUPR, attacks);\n"
    "writes <out>/bench.json, bench.md, *.svg and one result file per (checkpoint, item) under <out>/items/.\n";

const char* kBenchSegmentUsage =
    "usage: rpctrain bench segment --config FILE --checkpoint A [--checkpoint B ...] [--suite clean,c]\n"
    "         [--corruptions NAME,...] [--severities 1,2,3,4,5] [--limit N] [--out DIR] [--resume] [--ema]\n"
    "         [--set key.sub=value]...\n"
    "Robustness of segmentation checkpoints (data.kind ade20k) side by side: mIoU / mAcc / aAcc clean and under\n"
    "each corruption x severity, applied to every evaluation image before the eval transform; writes\n"
    "<out>/bench.json, bench.md, c_<family>.svg and one result file per (checkpoint, item) under <out>/items/.\n";

// The options every benchmark takes, with `default_suite` and `suite_help` for --suite.
po::options_description bench_options(const char* title, const std::string& default_suite,
                                      const std::string& suite_help) {
  auto desc = config_options(title);
  desc.add_options()("checkpoint", po::value<std::vector<std::string>>()->required()->composing(),
                     "checkpoint dir, run dir or .safetensors file; repeat for a side-by-side comparison")(
      "ema", po::bool_switch(), "evaluate the checkpoints' EMA weights")(
      "suite", po::value<std::string>()->default_value(default_suite), suite_help.c_str())(
      "corruptions", po::value<std::string>(), "the c suite's corruptions (default: the 15 of ImageNet-C)")(
      "limit", cli::non_negative<int64_t>(nullptr, "--limit")->default_value(0),
      "evaluate an evenly strided subset of N images of every set (0: all)")(
      "out", po::value<std::string>()->default_value(""), "output folder (default run.out_dir/bench-<config>-<time>)")(
      "resume", po::bool_switch(), "skip the items --out already has for the same weights and settings");
  return desc;
}

// The shared options' values (the corruption names checked: an unknown one is std::invalid_argument).
void read_bench_options(const po::variables_map& vm, rpct::robust::BenchRunOptions& opt) {
  opt.checkpoints = vm["checkpoint"].as<std::vector<std::string>>();
  opt.ema = vm["ema"].as<bool>();
  opt.suite = cli::comma_list(vm["suite"].as<std::string>(), "--suite");
  if (vm.count("corruptions"))
    for (const auto& c : cli::comma_list(vm["corruptions"].as<std::string>(), "--corruptions"))
      opt.corruptions.push_back(rpct::robust::corruption_from_name(c));
  opt.limit = vm["limit"].as<int64_t>();
  opt.out_dir = vm["out"].as<std::string>();
  opt.resume = vm["resume"].as<bool>();
}

// A comma-separated list of numbers; an item that is not one is a UsageError naming `flag`.
template <class T>
std::vector<T> number_list(const std::string& value, const std::string& flag) {
  std::vector<T> out;
  for (const auto& e : cli::comma_list(value, flag)) {
    try {
      size_t used = 0;
      const double v = std::stod(e, &used);
      if (used != e.size() || (std::is_integral_v<T> && v != static_cast<double>(static_cast<T>(v))))
        throw std::invalid_argument(e);
      out.push_back(static_cast<T>(v));
    } catch (const std::exception&) {
      throw UsageError(flag + ": '" + e + "' is not " + (std::is_integral_v<T> ? "an integer" : "a number"));
    }
  }
  return out;
}

// Prints the benchmark's summary as the result line (rank 0).
void print_bench_result(nlohmann::json summary, const std::string& what, const rpct::DistContext& dist) {
  if (!dist.is_root()) return;
  summary["cmd"] = "bench";
  summary["bench"] = what;
  summary["ok"] = true;
  summary["world_size"] = dist.world_size();
  print_result(summary);
}

int cmd_bench_classify(int argc, char** argv, rpct::DistContext& dist) {
  auto desc = bench_options("rpctrain bench classify options", "clean,c,fgsm,pgd",
                            "parts: clean, c (15 corruptions x 5 severities), a, r, o (need their folder), fgsm, pgd, "
                            "spsa; the default adds a / r / o when their folder is given");
  desc.add_options()("eps", po::value<std::string>()->default_value("1,2,3,4,5,6"), "attack budgets in units of 1/255")(
      "space", po::value<std::string>()->default_value("normalized"),
      "attack input space: normalized (eps on normalized tensors, no clipping; the authors'), pixel (eps in [0,1] "
      "pixel units, clipped to the valid range) or both")(
      "imagenet-c", po::value<std::string>()->default_value(""),
      "pre-made ImageNet-C: DIR/<corruption>/<severity>/<wnid>/*.JPEG (default: generated from the clean set)")(
      "imagenet-a", po::value<std::string>()->default_value(""), "ImageNet-A folder DIR/<wnid>/*.JPEG")(
      "imagenet-r", po::value<std::string>()->default_value(""), "ImageNet-R folder DIR/<wnid>/*.JPEG")(
      "imagenet-o", po::value<std::string>()->default_value(""), "ImageNet-O folder DIR/<wnid>/*.JPEG")(
      "spsa-iters", cli::non_negative<int>(nullptr, "--spsa-iters")->default_value(10),
      "SPSA iterations (the RPC-Attention authors' attack script: 10)");
  auto vm = cli::parse("bench", argc - 2, argv + 2, desc, kBenchClassifyUsage);
  if (!vm) return 0;
  auto cfg = load(*vm);
  rpct::robust::BenchOptions opt;
  opt.imagenet_c = (*vm)["imagenet-c"].as<std::string>();
  opt.imagenet_a = (*vm)["imagenet-a"].as<std::string>();
  opt.imagenet_r = (*vm)["imagenet-r"].as<std::string>();
  opt.imagenet_o = (*vm)["imagenet-o"].as<std::string>();
  opt.eps = number_list<double>((*vm)["eps"].as<std::string>(), "--eps");
  const auto space = (*vm)["space"].as<std::string>();
  if (space == "both")
    opt.spaces = {rpct::robust::InputSpace::kNormalized, rpct::robust::InputSpace::kPixel};
  else if (space == "normalized" || space == "pixel")
    opt.spaces = {rpct::robust::parse_input_space(space)};
  else
    throw UsageError("--space: expected normalized, pixel or both, got '" + space + "'");
  try {
    read_bench_options(*vm, opt);
    if ((*vm)["suite"].defaulted())
      for (const auto& [part, dir] : std::vector<std::pair<std::string, std::string>>{
               {"a", opt.imagenet_a}, {"r", opt.imagenet_r}, {"o", opt.imagenet_o}})
        if (!dir.empty()) opt.suite.push_back(part);
    opt.spsa_iters = (*vm)["spsa-iters"].as<int>();
    rpct::robust::validate_bench_options(cfg, opt);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("bench classify: ") + e.what());
  }
  print_bench_result(rpct::robust::run_classify_bench(cfg, opt, dist), "classify", dist);
  return 0;
}

int cmd_bench_segment(int argc, char** argv, rpct::DistContext& dist) {
  auto desc = bench_options("rpctrain bench segment options", "clean,c",
                            "parts: clean (mIoU / mAcc / aAcc), c (corruptions x severities)");
  desc.add_options()("severities", po::value<std::string>()->default_value("1,2,3,4,5"),
                     "the c suite's severities (1..5)");
  auto vm = cli::parse("bench", argc - 2, argv + 2, desc, kBenchSegmentUsage);
  if (!vm) return 0;
  auto cfg = load(*vm);
  rpct::robust::SegmentBenchOptions opt;
  opt.severities = number_list<int>((*vm)["severities"].as<std::string>(), "--severities");
  try {
    read_bench_options(*vm, opt);
    rpct::robust::validate_segment_bench_options(cfg, opt);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("bench segment: ") + e.what());
  }
  print_bench_result(rpct::robust::run_segment_bench(cfg, opt, dist), "segment", dist);
  return 0;
}

// `rpctrain bench classify|segment ...` (argv[2] names the benchmark).
int cmd_bench(int argc, char** argv, rpct::DistContext& dist) {
  const std::string what = argc > 2 ? argv[2] : "";
  if (what == "--help" || what == "-h") {
    cli::print_help("bench", std::string("usage: rpctrain bench classify|segment ... (rpctrain bench classify "
                                         "--help, rpctrain bench segment --help)\n"));
    return 0;
  }
  if (what == "classify") return cmd_bench_classify(argc, argv, dist);
  if (what == "segment") return cmd_bench_segment(argc, argv, dist);
  throw UsageError("bench: unknown benchmark '" + what + "' (classify, segment)");
}

const char* kReportUsage =
    "usage: rpctrain report RUN_DIR|METRICS.jsonl [RUN_DIR ...] --out FILE.svg [--x step|epoch] [--columns N]\n"
    "         [--title TEXT]\n"
    "Training curves of several runs in one SVG, from each run's metrics.jsonl: train loss, test top-1 and/or mIoU,\n"
    "learning rate; one line per run.\n";

// Writes `svg` to `out` (atomically); returns its size in bytes.
size_t write_svg(const std::string& out, const std::string& svg) {
  rpct::write_file_atomic(out, svg);
  return svg.size();
}

// `rpctrain report RUN_DIR ... --out FILE.svg`: no MPI process (it only reads files).
int cmd_report(int argc, char** argv) {
  auto desc = cli::command_options("rpctrain report options");
  desc.add_options()("runs", po::value<std::vector<std::string>>()->required()->composing(),
                     "run directories (or their metrics.jsonl files)")(
      "out", po::value<std::string>()->required(), "the SVG file to write")(
      "x", po::value<std::string>()->default_value("step"),
      "x axis: step (optimizer step; loss and lr from the step records) or epoch (epoch records only)")(
      "columns", po::value<int>()->default_value(2), "panels per row")(
      "title", po::value<std::string>()->default_value("training curves"), "title above the panels");
  auto parsed = cli::parse("report", argc - 1, argv + 1, desc, kReportUsage, "runs", -1);
  if (!parsed) return 0;
  const auto& vm = *parsed;
  const auto x = vm["x"].as<std::string>();
  if (x != "step" && x != "epoch") throw UsageError("--x: expected step or epoch, got '" + x + "'");
  const int columns = vm["columns"].as<int>();
  if (columns < 1) throw UsageError("--columns: must be >= 1, got " + std::to_string(columns));
  const auto paths = vm["runs"].as<std::vector<std::string>>();
  const auto labels = rpct::run_labels(paths);
  std::vector<rpct::RunCurves> runs;
  nlohmann::json listed = nlohmann::json::array();
  for (size_t i = 0; i < paths.size(); ++i) {
    runs.push_back(rpct::read_run_curves(paths[i], labels[i]));
    const auto& r = runs.back();
    nlohmann::json row = {{"label", r.label}, {"metrics_file", r.file}, {"step_records", r.step.size()},
                          {"epoch_records", r.epoch.size()}};
    for (const char* m : {"top1", "miou"}) {
      const auto it = r.epoch_values.find(m);
      if (it != r.epoch_values.end() && !it->second.empty() && std::isfinite(it->second.back()))
        row[std::string("final_") + m] = it->second.back();
    }
    listed.push_back(row);
  }
  const auto plots = rpct::training_curve_plots(runs, x == "step" ? rpct::CurveAxis::kStep : rpct::CurveAxis::kEpoch);
  const auto out = vm["out"].as<std::string>();
  nlohmann::json panels = nlohmann::json::array();
  for (const auto& p : plots) panels.push_back(p.title);
  const size_t bytes = write_svg(out, rpct::render_svg_panels(plots, columns, vm["title"].as<std::string>()));
  print_result({{"cmd", "report"}, {"ok", true}, {"out", out}, {"bytes", bytes}, {"panels", panels}, {"runs", listed}});
  return 0;
}

// `rpctrain plot SPEC.json --out FILE.svg`: SPEC is one plot or {"title": ..., "columns": N, "panels": [plot, ...]}
// (core/svg_plot.h's JSON form), e.g. written by a benchmark script.
int cmd_plot(int argc, char** argv) {
  auto desc = cli::command_options("rpctrain plot options");
  desc.add_options()("spec", po::value<std::string>()->required(), "JSON plot description")(
      "out", po::value<std::string>()->required(), "the SVG file to write");
  auto vm = parse(argc, argv, desc,
                  "usage: rpctrain plot SPEC.json --out FILE.svg\n"
                  "SPEC: {\"title\", \"x_label\", \"y_label\", \"y_min\", \"y_max\", \"series\": [{\"label\", \"x\": [..], "
                  "\"y\": [..], \"err\": [..]}]}\n      or {\"title\": T, \"columns\": N, \"panels\": [plot, ...]}",
                  "spec");
  if (!vm) return 0;
  const auto spec_path = (*vm)["spec"].as<std::string>();
  std::ifstream in(spec_path);
  if (!in) throw std::runtime_error(spec_path + ": cannot read");
  std::stringstream text;
  text << in.rdbuf();
  const auto spec = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (spec.is_discarded()) throw UsageError(spec_path + ": not valid JSON");
  std::string svg;
  try {
    if (spec.is_object() && spec.contains("panels")) {
      std::vector<rpct::LinePlot> panels;
      for (size_t i = 0; i < spec["panels"].size(); ++i)
        panels.push_back(rpct::line_plot_from_json(spec["panels"][i], spec_path + ": panels[" + std::to_string(i) + "]"));
      svg = rpct::render_svg_panels(panels, spec.value("columns", 2), spec.value("title", ""));
    } else {
      svg = rpct::render_svg(rpct::line_plot_from_json(spec, spec_path));
    }
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(spec_path + ": " + e.what());
  }
  const auto out = (*vm)["out"].as<std::string>();
  print_result({{"cmd", "plot"}, {"ok", true}, {"out", out}, {"bytes", write_svg(out, svg)}});
  return 0;
}

// `rpctrain config --list [--out FILE] | --explain KEY`: the reference of the config keys (no MPI process).
int cmd_config(int argc, char** argv) {
  auto desc = cli::command_options("rpctrain config options");
  desc.add_options()("list", po::bool_switch(), "every key: type, default, values, meaning (Markdown)")(
      "out", po::value<std::string>(), "with --list: write the Markdown to FILE instead of stdout")(
      "explain", po::value<std::string>(), "one key, e.g. train.lr")(
      "resolve", po::bool_switch(), "a config file's resolved settings (with --config FILE [--set k=v]...)")(
      "config,c", po::value<std::string>(), "with --resolve: the YAML config file")(
      "set", po::value<std::vector<std::string>>()->composing(), "with --resolve: override a key");
  auto vm = parse(argc, argv, desc,
                  "usage: rpctrain config --list [--out FILE] | rpctrain config --explain KEY\n"
                  "       rpctrain config --resolve --config FILE [--set key=value]...\n"
                  "The config keys from the code that reads them (docs/configs.md is `rpctrain config --list`); "
                  "--resolve prints\na config as training would run it (YAML), and as JSON in the result line's "
                  "\"config\".\n");
  if (!vm) return 0;
  if ((*vm)["resolve"].as<bool>()) {
    if (!vm->count("config")) throw UsageError("config --resolve needs --config FILE");
    const auto cfg = load(*vm);
    std::fputs(rpct::to_yaml(cfg).c_str(), stdout);
    print_result({{"cmd", "config"}, {"ok", true}, {"source", cfg.source},
                  {"config", nlohmann::json::parse(rpct::to_json(cfg))}});
    return 0;
  }
  const auto keys = rpct::config_reference();
  if (vm->count("explain")) {
    const auto key = (*vm)["explain"].as<std::string>();
    for (const auto& k : keys)
      if (k.key == key) {
        std::printf("%s (%s, default %s)\n  %s\n  values: %s\n", k.key.c_str(), k.type.c_str(), k.default_value.c_str(),
                    k.help.c_str(), k.allowed.c_str());
        print_result({{"cmd", "config"}, {"ok", true}, {"key", k.key}, {"type", k.type}, {"default", k.default_value},
                      {"values", k.allowed}, {"meaning", k.help}});
        return 0;
      }
    std::string near;  // the keys of the same section, to help with a typo
    for (const auto& k : keys)
      if (k.key.substr(0, k.key.find('.')) == key.substr(0, key.find('.'))) near += (near.empty() ? "" : ", ") + k.key;
    throw UsageError("config --explain: unknown key '" + key + "'" + (near.empty() ? "" : " (in its section: " + near + ")"));
  }
  if (!(*vm)["list"].as<bool>()) throw UsageError("config: give --list, --explain KEY or --resolve --config FILE");
  const std::string md = rpct::config_reference_markdown();
  if (vm->count("out")) {
    rpct::write_file_atomic((*vm)["out"].as<std::string>(), md);
    print_result({{"cmd", "config"}, {"ok", true}, {"keys", keys.size()}, {"out", (*vm)["out"].as<std::string>()}});
  } else {
    std::fwrite(md.data(), 1, md.size(), stdout);
    print_result({{"cmd", "config"}, {"ok", true}, {"keys", keys.size()}});
  }
  return 0;
}

// Runs the MPI-process command `cmd` (argv[1]).
int run_mpi_command(const std::string& cmd, int argc, char** argv, rpct::DistContext& dist) {
  if (cmd == "train") return cmd_train(argc, argv, dist);
  if (cmd == "eval") return cmd_eval(argc, argv, dist);
  if (cmd == "inspect") return cmd_inspect(argc, argv);
  if (cmd == "export") return cmd_export(argc, argv);
  if (cmd == "import") return cmd_import(argc, argv);
  if (cmd == "bench") return cmd_bench(argc, argv, dist);
  if (cmd == "prepare-data")  // argv[2]: the data set to make
    return dist.is_root() ? rpct::prepare_data_main(argc - 2, argv + 2) : cli::kExitOk;
  throw UsageError("unknown command '" + cmd + "' (try rpctrain --help)");
}

std::string self_executable(const char* argv0) {
  char self[4096] = {0};
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  return n > 0 ? std::string(self, n) : std::string(argv0);
}

}  // namespace

int main(int argc, char** argv) {
  // A file-size limit (RLIMIT_FSIZE, `ulimit -f`) would kill the process with SIGXFSZ in the middle of a write;
  // ignored (as CPython does), the write fails with EFBIG and the error names the file like a full disk.
  std::signal(SIGXFSZ, SIG_IGN);
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd.empty()) {
    std::cout << kTopHelp;
    rpct::print_error_result("", "no command given");
    return cli::kExitUsage;
  }
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    cli::print_help("help", kTopHelp);
    return cli::kExitOk;
  }
  if (cmd == "report")  // reads files only: no MPI process
    return cli::run_command(cmd, [&] { return cmd_report(argc, argv); });
  if (cmd == "plot") return cli::run_command(cmd, [&] { return cmd_plot(argc, argv); });
  if (cmd == "config") return cli::run_command(cmd, [&] { return cmd_config(argc, argv); });
  if (cmd == "launch")  // the launcher runs mpirun itself: it must not be an MPI process
    return cli::run_command(cmd, [&] { return rpct::launch_main(argc - 1, argv + 1, self_executable(argv[0])); });
  // `train` stops gracefully on SIGTERM / SIGINT / SIGUSR1 (trainer/graceful_stop.h). The handlers are in
  // place from here to the process's end: a signal during start-up stops the run at its first step, one
  // after the last step lets it finish normally.
  std::optional<rpct::StopSignals> stop_signals;
  if (cmd == "train") stop_signals.emplace();
  rpct::DistContext* dist = nullptr;
  const int code = cli::run_command(
      cmd,
      [&] {
        dist = &rpct::DistContext::init(&argc, &argv);
        rpct::log_enabled() = dist->is_root();
        return run_mpi_command(cmd, argc, argv, *dist);
      },
      [&](const std::string& message) {
        // An error on some ranks only would leave the others waiting in a collective: end them all.
        if (dist && dist->world_size() > 1)
          dist->abort_all("rank " + std::to_string(dist->rank()) + ": " + message, cli::kExitRuntime);
      });
  if (dist) dist->finalize();
  return code;
}
