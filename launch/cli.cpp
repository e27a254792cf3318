// The shared command-line layer: parsing with --help, and exceptions -> error line + exit code.
#include "launch/cli.h"

#include <c10/util/Exception.h>

#include <iostream>
#include <sstream>

#include "core/json_result.h"
#include "trainer/config.h"

namespace rpct::cli {

po::options_description command_options(const std::string& title) {
  po::options_description d(title);
  d.add_options()("help,h", "show this help");
  return d;
}

void print_help(const std::string& cmd, const std::string& text) {
  std::cout << text;
  print_result({{"cmd", cmd}, {"ok", true}, {"help", true}});
}

std::optional<po::variables_map> parse(const std::string& cmd, int argc, const char* const* argv,
                                       const po::options_description& options, const std::string& usage,
                                       const char* positional, int positional_count) {
  po::variables_map vm;
  po::positional_options_description pos;
  if (positional) pos.add(positional, positional_count);
  try {
    po::store(po::command_line_parser(argc, argv).options(options).positional(pos).run(), vm);
    if (vm.count("help")) {
      std::ostringstream text;
      text << usage << "\n" << options << "\n";
      print_help(cmd, text.str());
      return std::nullopt;
    }
    po::notify(vm);  // required options, notifiers (non_negative)
  } catch (const po::error& e) {
    throw UsageError(e.what());
  }
  return vm;
}

std::vector<std::string> comma_list(const std::string& value, const std::string& flag) {
  std::vector<std::string> items;
  std::stringstream ss(value);
  for (std::string item; std::getline(ss, item, ',');) {
    if (item.empty()) throw UsageError(flag + ": empty item in '" + value + "'");
    items.push_back(item);
  }
  if (items.empty()) throw UsageError(flag + ": expected a comma-separated list, got '" + value + "'");
  return items;
}

int run_command(const std::string& cmd, const std::function<int()>& command,
                const std::function<void(const std::string&)>& on_runtime_error) {
  auto usage_error = [&](const char* message) {
    print_error_result(cmd, message);
    return kExitUsage;
  };
  try {
    return command();
  } catch (const UsageError& e) {
    return usage_error(e.what());
  } catch (const ConfigError& e) {
    return usage_error(e.what());
  } catch (const po::error& e) {
    return usage_error(e.what());
  } catch (const std::exception& e) {
    const auto* torch_error = dynamic_cast<const c10::Error*>(&e);
    const std::string message = torch_error ? torch_error->what_without_backtrace() : e.what();
    print_error_result(cmd, message);
    if (on_runtime_error) on_runtime_error(message);  // may not return (MPI abort)
    return kExitRuntime;
  }
}

}  // namespace rpct::cli
