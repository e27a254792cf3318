// The `rpctrain` binary: train / eval. Every command prints, as its last line on stdout, one JSON
// object with its result (or {"ok":false,"error":...}); the exit code is 0 only on success.
#include <boost/program_options.hpp>
#include <cstdio>
#include <boost/filesystem.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "distributed/dist_context.h"
#include "trainer/config.h"
#include "trainer/log.h"
#include "trainer/run_dir.h"
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
    "\n"
    "Run under mpirun for data-parallel training (one process per GPU or CPU share).\n"
    "`rpctrain <command> --help` shows the command's options. The last stdout line is a JSON result.\n";

void print_json(const json& j) {
  std::cout << j.dump() << std::endl;
}

// Parses argv[2..] with `desc`; returns the map, or prints help and returns nullopt.
std::optional<po::variables_map> parse(int argc, char** argv, const po::options_description& desc,
                                       const std::string& usage) {
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc - 1, argv + 1).options(desc).run(), vm);
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
  desc.add_options()("run-dir", po::value<std::string>(), "run directory (default: run.out_dir/run.name)");
  auto vm = parse(argc, argv, desc, "usage: rpctrain train --config FILE [--set key.sub=value]... [--run-dir DIR]");
  if (!vm) return 0;
  auto cfg = load(*vm);
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
  auto r = rpct::train(cfg, dist, run_dir);
  if (dist.is_root())
    print_json({{"cmd", "train"}, {"ok", true}, {"top1", r.eval.top1}, {"top5", r.eval.top5},
                {"test_loss", r.eval.loss}, {"train_loss", r.train_loss}, {"epochs", r.epochs}, {"steps", r.steps},
                {"images_per_s", r.images_per_s}, {"seconds", r.seconds}, {"world_size", dist.world_size()},
                {"run_dir", r.run_dir}});
  return 0;
}

int cmd_eval(int argc, char** argv, rpct::DistContext& dist) {
  auto desc = config_options("rpctrain eval options");
  desc.add_options()("checkpoint", po::value<std::string>()->required(), "model file (model.pt of a run)");
  auto vm = parse(argc, argv, desc, "usage: rpctrain eval --config FILE --checkpoint PATH [--set key.sub=value]...");
  if (!vm) return 0;
  auto cfg = load(*vm);
  const auto path = (*vm)["checkpoint"].as<std::string>();
  if (!boost::filesystem::exists(path)) throw std::runtime_error(path + ": checkpoint not found");
  rpct::configure_runtime(cfg, dist);
  rpct::ViT model(cfg);
  try {
    torch::load(model, path);
  } catch (const c10::Error& e) {
    throw std::runtime_error(path + ": cannot load checkpoint: " + e.what_without_backtrace());
  }
  auto test = rpct::load_fashion_mnist(cfg.data.root, "test", cfg.data.limit_test);
  auto r = rpct::evaluate(model, test, cfg, dist);
  if (dist.is_root())
    print_json({{"cmd", "eval"}, {"ok", true}, {"top1", r.top1}, {"top5", r.top5}, {"loss", r.loss},
                {"samples", r.samples}, {"checkpoint", path}});
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
  try {
    auto& dist = rpct::DistContext::init(&argc, &argv);
    rpct::log_enabled() = dist.is_root();
    try {
      if (cmd == "train") {
        code = cmd_train(argc, argv, dist);
      } else if (cmd == "eval") {
        code = cmd_eval(argc, argv, dist);
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
