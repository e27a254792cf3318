#include "trainer/safetensors.h"

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

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
  nlohmann::ordered_json header;
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
  const int64_t data_start = 8 + static_cast<int64_t>(len), data_size = size - data_start;
  NamedTensors out;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (metadata)
        for (auto m = it.value().begin(); m != it.value().end(); ++m) (*metadata)[m.key()] = m.value().get<std::string>();
      continue;
    }
    const auto& v = it.value();
    const auto& dtype_name = v.at("dtype").get<std::string>();
    const auto dtype = dtype_of(dtype_name, path, it.key());
    const auto shape = v.at("shape").get<std::vector<int64_t>>();
    const auto off = v.at("data_offsets").get<std::vector<int64_t>>();
    auto t = torch::empty(shape, torch::TensorOptions().dtype(dtype));
    const std::string what = path + ": tensor '" + it.key() + "' ";
    if (off.size() != 2 || off[0] < 0 || off[1] < off[0])
      throw std::runtime_error(what + "has invalid data_offsets " + v.at("data_offsets").dump());
    if (off[1] - off[0] != static_cast<int64_t>(t.nbytes()))
      throw std::runtime_error(what + "is " + dtype_name + " " + c10::str(t.sizes()) + " (" +
                               std::to_string(t.nbytes()) + " bytes) but data_offsets hold " +
                               std::to_string(off[1] - off[0]) + " bytes");
    if (off[1] > data_size)
      throw std::runtime_error(what + "ends at byte " + std::to_string(off[1]) + " of a " + std::to_string(data_size) +
                               "-byte data section (truncated?)");
    in.seekg(data_start + off[0]);
    if (!in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(t.nbytes())))
      throw std::runtime_error(path + ": truncated reading tensor '" + it.key() + "'");
    out.emplace_back(it.key(), t);
  }
  return out;
}

}  // namespace rpct
