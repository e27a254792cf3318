// Fuzz target `safetensors`: trainer/safetensors' reader (checkpoints, exported and imported weights). What it
// reads must come back unchanged through the project's writer: names, order, dtypes, shapes, bytes, metadata.
#include <torch/torch.h>

#include <cstring>
#include <map>
#include <set>

#include "fuzz/fuzz_entries.h"
#include "trainer/safetensors.h"

namespace rpct::fuzz {

void safetensors_entry(const uint8_t* data, size_t size) {
  const std::string path = scratch_dir() + "/fuzz.safetensors", copy = scratch_dir() + "/copy.safetensors";
  write_scratch(path, data, size);
  NamedTensors tensors;
  std::map<std::string, std::string> metadata;
  try {
    tensors = read_safetensors(path, &metadata);
  } catch (const std::exception& e) {
    expect_named_error(e, {path});
    return;
  }
  // The format has one entry per name: a header that repeats a name cannot be written back as read.
  std::set<std::string> names;
  for (const auto& [n, t] : tensors) names.insert(n);
  if (names.size() != tensors.size()) return;
  write_safetensors(copy, tensors, metadata);
  std::map<std::string, std::string> metadata_again;
  const NamedTensors again = read_safetensors(copy, &metadata_again);
  expect(again.size() == tensors.size() && metadata_again == metadata, "write -> read changed the tensor list or metadata");
  for (size_t i = 0; i < again.size(); ++i) {
    const auto& [name, t] = tensors[i];
    const auto& [name2, t2] = again[i];
    expect(name == name2 && t.scalar_type() == t2.scalar_type() && t.sizes() == t2.sizes() &&
               (t.nbytes() == 0 || std::memcmp(t.data_ptr(), t2.data_ptr(), t.nbytes()) == 0),
           "write -> read changed tensor '" + name + "'");
  }
}

}  // namespace rpct::fuzz
