// `rpctrain prepare-data SUBCOMMAND [options]`: the command line of the data-set writers (tools/prepare_data.h).
#pragma once

namespace rpct {

// argv: the arguments after `rpctrain prepare-data` (argv[0] is the subcommand). Prints a JSON result
// line last; returns 0 on success, 2 on a usage error, 1 on a failure (message on stderr).
int prepare_data_main(int argc, char** argv);

}  // namespace rpct
