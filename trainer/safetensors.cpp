#include "trainer/safetensors.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "core/checked_size.h"
#include "core/file_io.h"
#include "trainer/run_dir.h"

namespace rpct {
namespace {

const std::vector<std::pair<torch::ScalarType, std::string>> kDtypes = {
    {torch::kFloat32, "F32"}, {torch::kFloat64, "F64"}, {torch::kBFloat16, "BF16"}, {torch::kFloat16, "F16"},
    {torch::kInt64, "I64"},   {torch::kInt32, "I32"},   {torch::kUInt8, "U8"},      {torch::kBool, "BOOL"}};

std::string dtype_name(torch::ScalarType t) {
  for (const auto& [s, n] : kDtypes)
    if (s == t) return n;
  throw std::invalid_argument(std::string("safetensors: unsupported dtype ") + c10::toString(t));
}

torch::ScalarType dtype_of(const std::string& n, const std::string& path, const std::string& tensor) {
  for (const auto& [s, name] : kDtypes)
    if (name == n) return s;
  throw std::runtime_error(path + ": tensor '" + tensor + "' has unsupported safetensors dtype '" + n + "'");
}

}  // namespace

void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata) {
  // An object even when empty: a default ordered_json dumps as `null`, which is not a safetensors header.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> data;
  int64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    auto c = t.detach().to(torch::kCPU).contiguous();
    const int64_t n = c.nbytes();
    header[name] = {{"dtype", dtype_name(c.scalar_type())}, {"shape", c.sizes().vec()}, {"data_offsets", {offset, offset + n}}};
    offset += n;
    data.push_back(c);
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // align the data section to 8 bytes
  write_atomic(path, [&](const WriteFn& write) {
    uint64_t len = h.size();
    unsigned char le[8];
    for (int i = 0; i < 8; ++i) le[i] = static_cast<unsigned char>(len >> (8 * i));
    write(le, 8);
    write(h.data(), h.size());
    for (const auto& c : data) write(c.data_ptr(), c.nbytes());
  });
}

namespace {

// One header entry, checked before anything is allocated for it.
struct TensorEntry {
  torch::ScalarType dtype;
  std::vector<int64_t> shape;
  int64_t begin = 0, end = 0;  // data_offsets, relative to the data section
};

// A non-negative integer of the header (a float, a string or a value above int64 is rejected, not cast).
int64_t header_count(const nlohmann::ordered_json& v, const std::string& what, const char* field) {
  if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)) ||
      (!v.is_number_unsigned() && v.get<int64_t>() < 0))
    throw std::runtime_error(what + "has invalid " + field + " entry " + v.dump() + " (expected a non-negative integer)");
  return v.is_number_unsigned() ? static_cast<int64_t>(v.get<uint64_t>()) : v.get<int64_t>();
}

// Validates dtype, shape and data_offsets of `v` against a data section of `data_size` bytes: the shape's bytes
// must equal the offsets' span, which must lie inside the section, so a tensor is never larger than the file.
TensorEntry parse_entry(const nlohmann::ordered_json& v, const std::string& path, const std::string& name,
                        int64_t data_size) {
  const std::string what = path + ": tensor '" + name + "' ";
  if (!v.is_object()) throw std::runtime_error(what + "header entry is " + v.type_name() + ", not an object");
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!v.contains(key)) throw std::runtime_error(what + "has no '" + key + "'");
  const auto& dtype = v.at("dtype");
  if (!dtype.is_string()) throw std::runtime_error(what + "has a dtype that is not a string: " + dtype.dump());
  TensorEntry e;
  e.dtype = dtype_of(dtype.get<std::string>(), path, name);
  const auto& shape = v.at("shape");
  const auto& off = v.at("data_offsets");
  if (!shape.is_array()) throw std::runtime_error(what + "has a shape that is not a list: " + shape.dump());
  if (!off.is_array() || off.size() != 2) throw std::runtime_error(what + "has invalid data_offsets " + off.dump());
  for (const auto& d : shape) e.shape.push_back(header_count(d, what, "shape"));
  const std::optional<int64_t> numel = checked_numel(e.shape);
  if (!numel)
    throw std::runtime_error(what + "has shape " + shape.dump() + ", too large (the product of its sizes overflows 64 bits)");
  int64_t nbytes = 0;
  if (__builtin_mul_overflow(*numel, static_cast<int64_t>(c10::elementSize(e.dtype)), &nbytes))
    throw std::runtime_error(what + "has shape " + shape.dump() + ", more bytes than any file holds");
  e.begin = header_count(off[0], what, "data_offsets");
  e.end = header_count(off[1], what, "data_offsets");
  if (e.end < e.begin) throw std::runtime_error(what + "has invalid data_offsets " + off.dump());
  if (e.end - e.begin != nbytes)
    throw std::runtime_error(what + "is " + dtype.get<std::string>() + " " + shape.dump() + " (" + std::to_string(nbytes) +
                             " bytes) but data_offsets hold " + std::to_string(e.end - e.begin) + " bytes");
  if (e.end > data_size)
    throw std::runtime_error(what + "ends at byte " + std::to_string(e.end) + " of a " + std::to_string(data_size) +
                             "-byte data section (truncated?)");
  return e;
}

}  // namespace

NamedTensors read_safetensors(const std::string& path, std::map<std::string, std::string>* metadata) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  in.seekg(0, std::ios::end);
  const int64_t size = in.tellg();
  in.seekg(0);
  unsigned char le[8];
  if (size < 8 || !in.read(reinterpret_cast<char*>(le), 8)) throw std::runtime_error(path + ": truncated (no header)");
  uint64_t len = 0;
  for (int i = 0; i < 8; ++i) len |= static_cast<uint64_t>(le[i]) << (8 * i);
  if (len > static_cast<uint64_t>(size - 8)) throw std::runtime_error(path + ": truncated or corrupt header length");
  std::string h(len, '\0');
  in.read(h.data(), static_cast<std::streamsize>(len));
  nlohmann::ordered_json header;
  try {
    header = nlohmann::ordered_json::parse(h);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": corrupt header: " + e.what());
  }
  // `null`: what this writer wrote for no tensors and no metadata before it wrote `{}`; nothing to read.
  if (header.is_null()) return {};
  if (!header.is_object()) throw std::runtime_error(path + ": corrupt header: " + header.type_name() + ", not a JSON object");
  const int64_t data_start = 8 + static_cast<int64_t>(len), data_size = size - data_start;
  NamedTensors out;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it.value().is_object()) throw std::runtime_error(path + ": __metadata__ is " + it.value().type_name() + ", not an object");
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        if (!m.value().is_string())
          throw std::runtime_error(path + ": __metadata__ '" + m.key() + "' is " + m.value().type_name() + ", not a string");
        if (metadata) (*metadata)[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const TensorEntry e = parse_entry(it.value(), path, it.key(), data_size);
    auto t = torch::empty(e.shape, torch::TensorOptions().dtype(e.dtype));
    in.seekg(data_start + e.begin);
    if (!in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(t.nbytes())))
      throw std::runtime_error(path + ": truncated reading tensor '" + it.key() + "'");
    out.emplace_back(it.key(), t);
  }
  return out;
}

}  // namespace rpct
