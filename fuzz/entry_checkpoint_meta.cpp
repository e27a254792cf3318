// Fuzz target `checkpoint_meta`: a checkpoint directory's meta.json and DONE (trainer/checkpoint_files.h).
// Input: meta.json's text, optionally followed by a line "#DONE" and DONE's text (without it the same bytes
// are both files). The directory also holds model.safetensors with kCheckpointFuzzModelBytes (fuzz_entries.h),
// so a DONE that lists it with their SHA-256 verifies (the seeds do): the fuzzer reaches verify_checkpoint's
// success path too.
#include <boost/filesystem.hpp>
#include <string>

#include "fuzz/fuzz_entries.h"
#include "trainer/checkpoint_files.h"

namespace rpct::fuzz {
void checkpoint_meta_entry(const uint8_t* data, size_t size) {
  const std::string kDoneMarker = "\n#DONE\n";
  const std::string text(reinterpret_cast<const char*>(data), size);
  const size_t marker = text.find(kDoneMarker);
  const std::string meta = text.substr(0, marker);
  const std::string done = marker == std::string::npos ? text : text.substr(marker + kDoneMarker.size());
  const std::string dir = scratch_dir() + "/step_00000001";
  boost::filesystem::create_directories(dir);
  write_scratch(dir + "/meta.json", reinterpret_cast<const uint8_t*>(meta.data()), meta.size());
  write_scratch(dir + "/DONE", reinterpret_cast<const uint8_t*>(done.data()), done.size());
  write_scratch(dir + "/model.safetensors", reinterpret_cast<const uint8_t*>(kCheckpointFuzzModelBytes.data()),
                kCheckpointFuzzModelBytes.size());

  bool meta_ok = false;
  CheckpointMeta m;
  try {
    m = read_checkpoint_meta_file(dir);
    read_checkpoint_meta(dir);  // what `rpctrain inspect` prints
    meta_ok = true;
  } catch (const std::exception& e) {
    expect_named_error(e, {dir + "/meta.json"});
  }
  if (meta_ok) {  // what was read is written back by the next checkpoint, and read again on resume
    expect_stable_text("meta.json", checkpoint_meta_json(m), [](const std::string& written) {
      return checkpoint_meta_json(parse_checkpoint_meta(written, "written meta.json"));
    });
  }
  std::string why;
  try {
    why = verify_checkpoint(dir);
  } catch (const std::exception& e) {
    expect_named_error(e, {dir});
    return;
  }
  expect(why.empty() || why.find(dir) != std::string::npos, "verify_checkpoint's reason does not name the directory: " + why);
}

}  // namespace rpct::fuzz
