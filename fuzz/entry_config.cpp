// Fuzz target `config`: trainer/config's YAML loader with --set overrides. Input: YAML text, optionally
// followed by a line "#--set" and one override ("key.sub=value") per line. A loaded config must survive the
// round trip it makes in every run (to_yaml -> saved with each checkpoint -> parsed again on resume).
#include <string>
#include <vector>

#include "fuzz/fuzz_entries.h"
#include "trainer/config.h"

namespace rpct::fuzz {

void config_entry(const uint8_t* data, size_t size) {
  const std::string kSource = "fuzz.yaml", kOverrideMarker = "\n#--set\n";
  const std::string text(reinterpret_cast<const char*>(data), size);
  const size_t marker = text.find(kOverrideMarker);
  const std::string yaml = text.substr(0, marker);
  std::vector<std::string> overrides;
  if (marker != std::string::npos) {
    size_t pos = marker + kOverrideMarker.size();
    while (pos <= text.size()) {
      const size_t end = std::min(text.find('\n', pos), text.size());
      overrides.push_back(text.substr(pos, end - pos));
      pos = end + 1;
    }
  }
  Config cfg;
  try {
    cfg = parse_config(yaml, kSource, overrides);
  } catch (const std::exception& e) {
    expect_named_error(e, {kSource, "--set"});
    return;
  }
  expect_stable_text("config (to_yaml)", to_yaml(cfg),
                     [](const std::string& saved) { return to_yaml(parse_config(saved, "saved.yaml")); });
}

}  // namespace rpct::fuzz
