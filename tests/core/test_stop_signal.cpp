// The stop-signal handler (core/stop_signal.h): it records the first signal and its time, nests, restores the
// handlers it replaced, and a second SIGINT ends the process at once with 130.
#include <gtest/gtest.h>
#include <signal.h>

#include <stdexcept>

#include "core/stop_signal.h"

namespace {

// The handler now installed for `sig`.
void (*handler_of(int sig))(int) {
  struct sigaction now;
  sigaction(sig, nullptr, &now);
  return now.sa_handler;
}

TEST(StopSignal, NamesBothWays) {
  EXPECT_EQ(rpct::signal_from_name("USR1"), SIGUSR1);
  EXPECT_EQ(rpct::signal_from_name("SIGUSR2"), SIGUSR2);
  EXPECT_EQ(rpct::signal_from_name("TERM"), SIGTERM);
  EXPECT_EQ(rpct::signal_name(SIGINT), "SIGINT");
  EXPECT_EQ(rpct::signal_name(SIGXCPU), "SIGXCPU");
  EXPECT_THROW(rpct::signal_from_name("KILL"), std::invalid_argument);  // cannot be caught: not a stop signal
  EXPECT_THROW(rpct::signal_from_name("usr1"), std::invalid_argument);
}

TEST(StopSignal, RecordsTheFirstSignalOnly) {
  rpct::StopSignals signals;
  EXPECT_EQ(rpct::stop_signal(), 0);
  EXPECT_EQ(rpct::seconds_since_stop_signal(), 0.0);
  raise(SIGUSR1);
  EXPECT_EQ(rpct::stop_signal(), SIGUSR1);
  raise(SIGTERM);  // a later signal does not replace the first
  EXPECT_EQ(rpct::stop_signal(), SIGUSR1);
  EXPECT_GE(rpct::seconds_since_stop_signal(), 0.0);
  EXPECT_LT(rpct::seconds_since_stop_signal(), 60.0);
}

TEST(StopSignal, NestsAndRestoresWhatItReplaced) {
  ASSERT_EQ(handler_of(SIGTERM), SIG_DFL);
  ASSERT_EQ(handler_of(SIGUSR2), SIG_DFL);
  {
    rpct::StopSignals outer;  // the train command's
    const auto stop_handler = handler_of(SIGTERM);
    EXPECT_NE(stop_handler, SIG_DFL);
    EXPECT_EQ(handler_of(SIGUSR2), SIG_DFL) << "USR2 is handled only when asked for";
    raise(SIGTERM);  // before the inner one: must survive it (a signal during start-up)
    {
      rpct::StopSignals inner(SIGUSR2);  // the training loop's, with run.stop_signal USR2
      EXPECT_EQ(rpct::stop_signal(), SIGTERM) << "the inner instance cleared an earlier request";
      EXPECT_EQ(handler_of(SIGUSR2), stop_handler);
    }
    EXPECT_EQ(handler_of(SIGUSR2), SIG_DFL);
    EXPECT_EQ(handler_of(SIGTERM), stop_handler) << "the inner instance restored the default, not the outer's handler";
  }
  EXPECT_EQ(handler_of(SIGTERM), SIG_DFL);
  EXPECT_EQ(handler_of(SIGINT), SIG_DFL);
  EXPECT_EQ(handler_of(SIGUSR1), SIG_DFL);
  rpct::StopSignals again;
  EXPECT_EQ(rpct::stop_signal(), 0) << "a new outermost instance starts without a request";
}

TEST(StopSignalDeathTest, SecondInterruptExitsAtOnce) {
  EXPECT_EXIT(
      {
        rpct::StopSignals signals;
        raise(SIGINT);  // the first: a stop request
        raise(SIGINT);  // Ctrl-C twice
        std::exit(0);   // not reached
      },
      testing::ExitedWithCode(rpct::kExitInterrupted), "SIGINT while a stop is pending: exiting now");
}

}  // namespace
