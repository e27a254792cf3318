// Checks that an error names what it is about (the file, the tensor, the reason): an error message that
// names the wrong thing, or no error at all, fails the test.
#pragma once
#include <gtest/gtest.h>

#include <exception>
#include <string>
#include <vector>

namespace rpct::test {

// `what` (a problem described as text; "" means none) must be non-empty and contain every part.
inline void expect_text_naming(const std::string& what, const std::vector<std::string>& parts) {
  EXPECT_FALSE(what.empty()) << "no problem reported";
  for (const auto& p : parts) EXPECT_NE(what.find(p), std::string::npos) << "'" << p << "' not in: " << what;
}

// `f()` must throw a std::exception whose message contains every part.
template <class F>
void expect_error_naming(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
  } catch (const std::exception& e) {
    expect_text_naming(e.what(), parts);
    return;
  }
  ADD_FAILURE() << "no exception; expected one naming " << ::testing::PrintToString(parts);
}

}  // namespace rpct::test
