// The `rpctrain` binary: train / eval. Every command prints, as its last line on stdout, one JSON
// object with its result (or {"ok":false,"error":...}); the exit code is 0 only on success.
#include <boost/program_options.hpp>
#include <unistd.h>

#include <cstdio>
#include <boost/filesystem.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "distributed/dist_context.h"
#include "trainer/data.h"
#include "launch/launcher.h"
#include "tools/prepare_data.h"
#include "trainer/config.h"
#include "core/log.h"
#include "trainer/checkpoint.h"
#include "trainer/run_dir.h"
#include "trainer/safetensors.h"
#include "trainer/runtime.h"
#include "trainer/trainer.h"

namespace po = boost::program_options;
using nlohmann::json;

namespace {

constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const char* kTopHelp =
    "usage: rpctrain <command> [options]\n"
    "\n"
    "commands:\n"
    "  train   train a model:            rpctrain train --config FILE [--set key.sub=value]...\n"
    "  eval    evaluate a saved model:   rpctrain eval --config FILE --checkpoint PATH\n"
    "  prepare-data  make data sets in real layouts: rpctrain prepare-data fashion-mnist-imagenet --out DIR\n"
    "                                    rpctrain prepare-data ade20k-synthetic --out DIR\n"
    "  inspect show a checkpoint:        rpctrain inspect CKPT_DIR\n"
    "  export  weights for Python/timm:  rpctrain export CKPT_DIR --format safetensors --out FILE\n"
    "  import  timm-named weights -> rpctrain names: rpctrain import FILE --config CFG --out FILE\n"
    "  launch  build and run the mpirun command: rpctrain launch --nodes 2 --hostfile H --procs-per-node 8 -- train ...\n"
    "\n"
    "Run under mpirun for data-parallel training (one process per GPU or CPU share).\n"
    "`rpctrain <command> --help` shows the command's options. The last stdout line is a JSON result.\n";

void print_json(const json& j) {
  std::cout << j.dump() << std::endl;
}

// `fields` plus the evaluation's metrics under the task's names (its "loss" as `loss_key`).
json with_metrics(json fields, const rpct::EvalResult& r, const char* loss_key) {
  for (const auto& [name, v] : r.metrics) fields[name == "loss" ? loss_key : name] = v;
  return fields;
}

// Parses argv[2..] with `desc`; returns the map, or prints help (and a JSON line) and returns nullopt.
// `positional`, if given, is the option that a bare argument fills (e.g. inspect CKPT_DIR).
std::optional<po::variables_map> parse(int argc, char** argv, const po::options_description& desc,
                                       const std::string& usage, const char* positional = nullptr) {
  po::variables_map vm;
  po::positional_options_description pos;
  if (positional) pos.add(positional, 1);
  try {
    po::store(po::command_line_parser(argc - 1, argv + 1).options(desc).positional(pos).run(), vm);
    if (vm.count("help")) {
      std::cout << usage << "\n" << desc << std::endl;
      print_json({{"cmd", argv[1]}, {"ok", true}, {"help", true}});
      return std::nullopt;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(e.what());
  }
  return vm;
}

po::options_description config_options(const char* title) {
  po::options_description d(title);
  d.add_options()("help,h", "show this help")("config,c", po::value<std::string>()->required(), "YAML config file")(
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
      "'auto' (newest complete, verified checkpoint of the run dir; none: start fresh) or a checkpoint dir");
  auto vm = parse(argc, argv, desc,
                  "usage: rpctrain train --config FILE [--set key.sub=value]... [--run-dir DIR] [--resume auto|DIR]");
  if (!vm) return 0;
  auto cfg = load(*vm);
  const auto resume = (*vm)["resume"].as<std::string>();
  if (resume == "auto" && !vm->count("run-dir") && cfg.run.name.empty())
    throw UsageError("--resume auto needs a stable run directory: set run.name or --run-dir");
  std::string run_dir;
  if (dist.is_root()) {
    run_dir = vm->count("run-dir") ? (*vm)["run-dir"].as<std::string>()
                                   : cfg.run.out_dir + "/" + rpct::default_run_name(cfg);
    rpct::make_run_dir(run_dir);
    const std::string yaml = rpct::to_yaml(cfg);
    rpct::write_file_atomic(run_dir + "/config.yaml", yaml);
    std::printf("# resolved config (%s), world size %d\n%s", cfg.source.c_str(), dist.world_size(), yaml.c_str());
    std::fflush(stdout);
  }
  run_dir = dist.broadcast_string(run_dir);
  auto r = rpct::train(cfg, dist, run_dir, resume);
  if (dist.is_root())
    print_json(with_metrics({{"cmd", "train"},
                             {"ok", true},
                             {"train_loss", r.train_loss},
                             {"epochs", r.epochs},
                             {"steps", r.steps},
                             {"images_per_s", r.images_per_s},
                             {"seconds", r.seconds},
                             {"world_size", dist.world_size()},
                             {"params_sha256", r.params_sha256},
                             {"run_dir", r.run_dir}},
                            r.eval, "test_loss"));
  return 0;
}

// timm's ViT names put the MLP under "mlp."; ours are blocks.N.fc1 / blocks.N.fc2.
std::string to_timm_name(const std::string& n) {
  for (const char* fc : {".fc1.", ".fc2."}) {
    auto p = n.find(fc);
    if (n.rfind("blocks.", 0) == 0 && p != std::string::npos) return n.substr(0, p) + ".mlp" + n.substr(p);
  }
  return n;
}
std::string from_timm_name(const std::string& n) {
  auto p = n.find(".mlp.fc");
  return p == std::string::npos ? n : n.substr(0, p) + n.substr(p + 4);
}

// Loads weights into `model` from a checkpoint dir or a .safetensors file (rpctrain or timm names).
void load_weights(torch::nn::Module& model, const std::string& path, bool use_ema) {
  namespace fs = boost::filesystem;
  if (!fs::exists(path)) throw std::runtime_error(path + ": checkpoint not found");
  std::string file = path;
  if (fs::is_directory(path)) {
    const auto why = rpct::verify_checkpoint(path);
    if (!why.empty()) throw std::runtime_error(why);
    file = path + "/model.safetensors";
  }
  // rpctrain or timm names; with use_ema the checkpoint's "ema/<name>" entries replace the weights.
  std::map<std::string, torch::Tensor> by_name;
  for (auto& [n, t] : rpct::read_safetensors(file)) {
    if (n.rfind("ema/", 0) != 0)
      by_name.emplace(from_timm_name(n), t);
    else if (use_ema)
      by_name[n.substr(4)] = t;
  }
  rpct::NamedTensors params, src(by_name.begin(), by_name.end());
  for (const auto& p : model.named_parameters()) params.emplace_back(p.key(), p.value());
  rpct::copy_named_tensors(src, "", params, file);
}

int cmd_eval(int argc, char** argv, rpct::DistContext& dist) {
  auto desc = config_options("rpctrain eval options");
  desc.add_options()("checkpoint", po::value<std::string>()->required(),
                     "checkpoint dir (run/ckpt/step_*), or a .safetensors file (rpctrain or timm names)")(
      "ema", po::bool_switch(), "evaluate the EMA weights of the checkpoint");
  auto vm = parse(argc, argv, desc, "usage: rpctrain eval --config FILE --checkpoint PATH [--set key.sub=value]...");
  if (!vm) return 0;
  auto cfg = load(*vm);
  const auto path = (*vm)["checkpoint"].as<std::string>();
  rpct::configure_runtime(cfg, dist);
  auto task = rpct::make_task(cfg, rpct::pick_device(cfg, dist));
  load_weights(task->model(), path, (*vm)["ema"].as<bool>());
  auto test = rpct::make_batch_source(cfg, /*train=*/false);
  auto r = rpct::evaluate(*task, *test, cfg.train.eval_batch_size, dist);
  if (dist.is_root())
    print_json(with_metrics({{"cmd", "eval"}, {"ok", true}, {"samples", r.samples}, {"checkpoint", path}}, r, "loss"));
  return 0;
}

int cmd_inspect(int argc, char** argv) {
  po::options_description desc("rpctrain inspect options");
  desc.add_options()("help,h", "show this help")("checkpoint", po::value<std::string>()->required(), "checkpoint dir");
  auto parsed = parse(argc, argv, desc, "usage: rpctrain inspect CKPT_DIR", "checkpoint");
  if (!parsed) return 0;
  const auto& vm = *parsed;
  const auto dir = vm["checkpoint"].as<std::string>();
  const auto why = rpct::verify_checkpoint(dir);
  if (!why.empty()) throw std::runtime_error(why);
  const auto meta = rpct::read_checkpoint_meta(dir);
  for (const auto& [k, v] : meta)
    if (k != "config") std::printf("%-20s %s\n", k.c_str(), v.c_str());
  const auto params = rpct::read_checkpoint_params(dir);
  int64_t n = 0;
  for (const auto& [name, t] : params) n += t.numel();
  std::printf("%-20s %zu tensors, %lld values\n", "parameters", params.size(), static_cast<long long>(n));
  print_json({{"cmd", "inspect"}, {"ok", true}, {"checkpoint", dir}, {"step", std::stoll(meta.at("step"))},
              {"world_size", std::stoi(meta.at("world_size"))}, {"params_sha256", rpct::params_sha256(params)}});
  return 0;
}

int cmd_export(int argc, char** argv) {
  po::options_description desc("rpctrain export options");
  desc.add_options()("help,h", "show this help")("checkpoint", po::value<std::string>()->required(), "checkpoint dir")(
      "format", po::value<std::string>()->default_value("safetensors"), "output format (safetensors)")(
      "out", po::value<std::string>()->required(), "output file")("ema", po::bool_switch(), "export the EMA weights");
  auto parsed = parse(argc, argv, desc, "usage: rpctrain export CKPT_DIR --format safetensors --out FILE [--ema]",
                      "checkpoint");
  if (!parsed) return 0;
  const auto& vm = *parsed;
  if (vm["format"].as<std::string>() != "safetensors")
    throw UsageError("--format: only 'safetensors' is supported, got '" + vm["format"].as<std::string>() + "'");
  const auto dir = vm["checkpoint"].as<std::string>(), out = vm["out"].as<std::string>();
  const auto why = rpct::verify_checkpoint(dir);
  if (!why.empty()) throw std::runtime_error(why);
  rpct::NamedTensors tensors;
  const bool ema = vm["ema"].as<bool>();
  for (auto& [n, t] : rpct::read_safetensors(dir + "/model.safetensors")) {
    const bool is_ema = n.rfind("ema/", 0) == 0;
    if (n.rfind("buffer/", 0) == 0 || is_ema != ema) continue;
    tensors.emplace_back(to_timm_name(is_ema ? n.substr(4) : n), t);
  }
  if (tensors.empty()) throw std::runtime_error(dir + ": no " + std::string(ema ? "EMA " : "") + "weights to export");
  rpct::write_safetensors(out, tensors, {{"format", "pt"}});
  print_json({{"cmd", "export"}, {"ok", true}, {"out", out}, {"tensors", tensors.size()}});
  return 0;
}

int cmd_import(int argc, char** argv) {
  auto desc = config_options("rpctrain import options");
  desc.add_options()("weights", po::value<std::string>()->required(), "safetensors file (timm or rpctrain names)")(
      "out", po::value<std::string>()->required(), "output .safetensors with rpctrain names, checked against --config");
  auto parsed = parse(argc, argv, desc, "usage: rpctrain import FILE --config CFG --out FILE", "weights");
  if (!parsed) return 0;
  const auto& vm = *parsed;
  auto cfg = load(vm);
  auto task = rpct::make_task(cfg, torch::kCPU);
  auto& model = task->model();
  load_weights(model, vm["weights"].as<std::string>(), false);  // checks every name and shape
  rpct::NamedTensors tensors;
  for (const auto& p : model.named_parameters()) tensors.emplace_back(p.key(), p.value());
  const auto out = vm["out"].as<std::string>();
  rpct::write_safetensors(out, tensors, {{"format", "rpctrain"}});
  print_json({{"cmd", "import"}, {"ok", true}, {"out", out}, {"tensors", tensors.size()},
              {"params_sha256", rpct::params_sha256(tensors)}});
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd.empty() || cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::cout << kTopHelp;
    if (cmd.empty())
      print_json({{"cmd", ""}, {"ok", false}, {"error", "no command given"}});
    else
      print_json({{"cmd", "help"}, {"ok", true}, {"help", true}});
    return cmd.empty() ? kExitUsage : 0;
  }
  int code = 0;
  if (cmd == "launch") {  // the launcher runs mpirun itself: it must not be an MPI process
    try {
      char self[4096] = {0};
      const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
      return rpct::launch_main(argc - 1, argv + 1, n > 0 ? std::string(self, n) : std::string(argv[0]));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      print_json({{"cmd", cmd}, {"ok", false}, {"error", e.what()}});
      return kExitUsage;
    }
  }
  try {
    auto& dist = rpct::DistContext::init(&argc, &argv);
    rpct::log_enabled() = dist.is_root();
    try {
      if (cmd == "train") {
        code = cmd_train(argc, argv, dist);
      } else if (cmd == "eval") {
        code = cmd_eval(argc, argv, dist);
      } else if (cmd == "prepare-data") {
        code = dist.is_root() ? rpct::prepare_data_main(argc - 2, argv + 2) : 0;  // argv[2] = subcommand
      } else if (cmd == "inspect") {
        code = cmd_inspect(argc, argv);
      } else if (cmd == "export") {
        code = cmd_export(argc, argv);
      } else if (cmd == "import") {
        code = cmd_import(argc, argv);
      } else {
        throw UsageError("unknown command '" + cmd + "' (try rpctrain --help)");
      }
    } catch (const UsageError& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      print_json({{"cmd", cmd}, {"ok", false}, {"error", e.what()}});
      code = kExitUsage;
    } catch (const rpct::ConfigError& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      print_json({{"cmd", cmd}, {"ok", false}, {"error", e.what()}});
      code = kExitUsage;
    } catch (const po::error& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      print_json({{"cmd", cmd}, {"ok", false}, {"error", e.what()}});
      code = kExitUsage;
    } catch (const std::exception& e) {
      const std::string what = dynamic_cast<const c10::Error*>(&e)
                                   ? dynamic_cast<const c10::Error*>(&e)->what_without_backtrace()
                                   : e.what();
      std::fprintf(stderr, "error: %s\n", what.c_str());
      print_json({{"cmd", cmd}, {"ok", false}, {"error", what}});
      // An error on some ranks only would leave the others waiting in a collective: end them all.
      if (dist.world_size() > 1) dist.abort_all("rank " + std::to_string(dist.rank()) + ": " + what, kExitRuntime);
      code = kExitRuntime;
    }
    dist.finalize();
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what_without_backtrace());
    print_json({{"cmd", cmd}, {"ok", false}, {"error", e.what_without_backtrace()}});
    code = kExitRuntime;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    print_json({{"cmd", cmd}, {"ok", false}, {"error", e.what()}});
    code = kExitRuntime;
  }
  return code;
}
