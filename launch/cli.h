// The command-line layer every `rpctrain` subcommand shares (train, eval, inspect, export, import,
// launch, prepare-data): one Boost.Program_options parser with `--help`, one rule that turns an
// exception into "error: ..." on stderr, the JSON error line (core/json_result.h) and an exit code:
//   0  success
//   1  runtime failure (I/O, a bad checkpoint, an error on some rank)
//   2  usage or config error (bad flag, missing value, unknown command, ConfigError): nothing ran
#pragma once
#include <boost/program_options.hpp>

#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace rpct::cli {

namespace po = boost::program_options;

constexpr int kExitOk = 0;
constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;

// A bad command line (unknown command, unsupported choice, out-of-range value): exit code 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A titled option list that already has --help/-h.
po::options_description command_options(const std::string& title);

// Parses argv[1..argc) against `options`; argv[0] is the command's own name (skipped). A bare
// argument fills the option named `positional` if given (e.g. `inspect CKPT_DIR`). With --help:
// prints `usage`, the options and the JSON line {"cmd": cmd, "ok": true, "help": true}, and returns
// nullopt. A parse error or a missing required option is a UsageError. `positional_count` bare arguments
// fill `positional` (-1: all of them, e.g. `report RUN_DIR RUN_DIR ...`).
std::optional<po::variables_map> parse(const std::string& cmd, int argc, const char* const* argv,
                                       const po::options_description& options, const std::string& usage,
                                       const char* positional = nullptr, int positional_count = 1);

// Prints `text` (a usage message) and the help JSON line {"cmd": cmd, "ok": true, "help": true}.
void print_help(const std::string& cmd, const std::string& text);

// Runs `command` and returns its exit code. What it throws becomes "error: <message>" on stderr, the
// JSON line {"cmd": cmd, "ok": false, "error": <message>} and an exit code: UsageError, ConfigError
// and Boost.Program_options errors -> kExitUsage; any other exception -> kExitRuntime, after
// `on_runtime_error(message)` (e.g. to end the other MPI ranks) if given.
int run_command(const std::string& cmd, const std::function<int()>& command,
                const std::function<void(const std::string&)>& on_runtime_error = nullptr);

// The items of a comma-separated option value ("clean,c,fgsm"); an empty item is a UsageError naming `flag`.
std::vector<std::string> comma_list(const std::string& value, const std::string& flag);

// An integer option that must be >= 0 (counts, sizes, seeds), stored in *target; a negative value is
// a UsageError naming `flag`. (po::value<unsigned> would silently wrap "-1".)
template <class T>
po::typed_value<T>* non_negative(T* target, const std::string& flag) {
  return po::value<T>(target)->notifier([flag](const T& v) {
    if (v < 0) throw UsageError(flag + ": expected a non-negative integer, got " + std::to_string(v));
  });
}

}  // namespace rpct::cli
