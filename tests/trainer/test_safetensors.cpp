// trainer/safetensors: write -> read round trip (every supported dtype, 0-d, empty and non-contiguous
// tensors, metadata, order), the byte layout of the format, and errors that name the file and the
// tensor: truncated files, an unsupported dtype, a dtype or shape that does not match the stored bytes.
#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>

#include "tests/expect_error.h"
#include "tests/test_files.h"
#include "tests/test_seed.h"
#include "trainer/safetensors.h"

using rpct::test::expect_error_naming;
using rpct::test::read_bytes;
using rpct::test::TempDir;
using rpct::test::write_bytes;

namespace {

// A safetensors file from a header written by hand and a data section: what another writer, or damage,
// can produce. Layout: u64 little-endian header length, the JSON header, the data.
std::string file_bytes(const std::string& header_json, const std::string& data) {
  std::string out(8, '\0');
  const uint64_t len = header_json.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(len >> (8 * i));
  return out + header_json + data;
}

// The header length that a file's first 8 bytes announce.
uint64_t header_length(const std::string& bytes) {
  uint64_t len = 0;
  for (int i = 0; i < 8; ++i) len |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  return len;
}

// Tensors of every supported dtype plus the shapes that need care, in a non-alphabetical order.
rpct::NamedTensors sample_tensors() {
  return {{"z.f32", torch::randn({3, 5})},
          {"a.f64", torch::randn({2, 3}, torch::kDouble)},
          {"m.bf16", torch::randn({4}).to(torch::kBFloat16)},
          {"m.f16", torch::randn({2, 2}).to(torch::kHalf)},
          {"i64", torch::randint(-(int64_t{1} << 40), int64_t{1} << 40, {3}, torch::kLong)},
          {"i32", torch::randint(-1000, 1000, {2, 1, 2}, torch::kInt)},
          {"u8", torch::randint(0, 256, {7}, torch::kByte)},
          {"bool", torch::randn({5}) > 0},
          {"scalar", torch::randn({})},
          {"empty", torch::zeros({0, 4})},
          {"transposed", torch::randn({3, 4}).t()}};  // non-contiguous: written in logical order
}

}  // namespace

TEST(Safetensors, RoundTripKeepsNamesOrderDtypesShapesValuesAndMetadata) {
  torch::manual_seed(rpct::test::test_seed());
  TempDir dir;
  const auto tensors = sample_tensors();
  const std::map<std::string, std::string> meta = {{"format", "pt"}, {"step", "12"}};
  rpct::write_safetensors(dir.file("t.safetensors"), tensors, meta);
  std::map<std::string, std::string> meta_back;
  const auto back = rpct::read_safetensors(dir.file("t.safetensors"), &meta_back);
  ASSERT_EQ(back.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, t] = tensors[i];
    EXPECT_EQ(back[i].first, name) << "position " << i;
    EXPECT_EQ(back[i].second.scalar_type(), t.scalar_type()) << name;
    EXPECT_EQ(back[i].second.sizes(), t.sizes()) << name;
    EXPECT_TRUE(back[i].second.equal(t)) << name;  // bit-exact, NaN-free inputs
  }
  EXPECT_EQ(meta_back, meta);
}

// The layout other readers (Python safetensors, timm) rely on: the announced header length, the data
// section 8-byte aligned, consecutive data_offsets from 0, raw little-endian values.
TEST(Safetensors, BytesFollowTheFormat) {
  TempDir dir;
  rpct::write_safetensors(dir.file("t.safetensors"),
                          {{"one", torch::ones({2})}, {"ids", torch::tensor({int64_t{258}}, torch::kLong)}});
  const std::string bytes = read_bytes(dir.file("t.safetensors"));
  const uint64_t len = header_length(bytes);
  EXPECT_EQ((8 + len) % 8, 0u) << "data section not 8-byte aligned";
  const auto header = nlohmann::json::parse(bytes.substr(8, len));
  EXPECT_EQ(header["one"]["dtype"], "F32");
  EXPECT_EQ(header["one"]["shape"], nlohmann::json::array({2}));
  EXPECT_EQ(header["one"]["data_offsets"], nlohmann::json::array({0, 8}));
  EXPECT_EQ(header["ids"]["dtype"], "I64");
  EXPECT_EQ(header["ids"]["data_offsets"], nlohmann::json::array({8, 16}));
  ASSERT_EQ(bytes.size(), 8 + len + 16);
  const std::string data = bytes.substr(8 + len);
  const std::string one_f32("\x00\x00\x80\x3f", 4), ids_i64("\x02\x01\x00\x00\x00\x00\x00\x00", 8);  // 1.0f, 258
  EXPECT_EQ(data, one_f32 + one_f32 + ids_i64);
}

// Cut anywhere: before the length, inside the header, inside the last tensor's data. Each is an error that
// names the file; a cut in the data also names the tensor.
TEST(Safetensors, TruncatedFileIsAnErrorNamingFileAndTensor) {
  TempDir dir;
  const std::string good = dir.file("good.safetensors"), cut = dir.file("cut.safetensors");
  rpct::write_safetensors(good, {{"a", torch::zeros({4})}, {"b", torch::zeros({3}, torch::kDouble)}});
  const std::string bytes = read_bytes(good);
  const size_t data_start = 8 + header_length(bytes);
  for (size_t keep : {size_t{0}, size_t{5}, data_start / 2, bytes.size() - 1}) {
    SCOPED_TRACE("kept " + std::to_string(keep) + " of " + std::to_string(bytes.size()) + " bytes");
    write_bytes(cut, bytes.substr(0, keep));
    if (keep < data_start)
      expect_error_naming([&] { rpct::read_safetensors(cut); }, {cut, "truncated"});
    else
      expect_error_naming([&] { rpct::read_safetensors(cut); }, {cut, "tensor 'b'", "truncated"});
  }
}

TEST(Safetensors, CorruptHeaderIsAnErrorNamingTheFile) {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  write_bytes(path, file_bytes("{\"w\": {\"dtype\": \"F32\", ", std::string(8, '\0')));
  expect_error_naming([&] { rpct::read_safetensors(path); }, {path, "corrupt header"});
}

TEST(Safetensors, UnsupportedDtypeNamesFileTensorAndDtype) {
  TempDir dir;
  const std::string path = dir.file("fp8.safetensors");
  write_bytes(path, file_bytes(R"({"w": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}})", "\x01\x02"));
  expect_error_naming([&] { rpct::read_safetensors(path); }, {path, "tensor 'w'", "F8_E4M3"});
}

// A header whose dtype or shape disagrees with the byte range it gives (8 bytes: two F32 values) is an error
// naming the file, the tensor, and the dtype and shape it claims.
TEST(Safetensors, DtypeOrShapeNotMatchingTheBytesNamesFileAndTensor) {
  TempDir dir;
  const std::string path = dir.file("mismatch.safetensors"), data(8, '\0');
  write_bytes(path, file_bytes(R"({"w": {"dtype": "F64", "shape": [2], "data_offsets": [0, 8]}})", data));
  expect_error_naming([&] { rpct::read_safetensors(path); }, {path, "tensor 'w'", "F64", "16 bytes"});
  write_bytes(path, file_bytes(R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", data));
  expect_error_naming([&] { rpct::read_safetensors(path); }, {path, "tensor 'w'", "[3]", "12 bytes"});
  write_bytes(path, file_bytes(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}})", data));
  expect_error_naming([&] { rpct::read_safetensors(path); }, {path, "tensor 'w'", "data_offsets"});
}

// No tensors and no metadata: the header is `{}` (the writer wrote `null` before, which the safetensors format
// and Python's reader do not accept; found by fuzz/ safetensors), and such an older file still reads as empty.
TEST(Safetensors, EmptyFileHasAnObjectHeaderAndOldNullHeadersRead) {
  TempDir dir;
  const std::string path = dir.file("empty.safetensors");
  rpct::write_safetensors(path, {});
  const std::string bytes = read_bytes(path);
  EXPECT_EQ(nlohmann::json::parse(bytes.substr(8, header_length(bytes))), nlohmann::json::object());
  EXPECT_TRUE(rpct::read_safetensors(path).empty());
  write_bytes(path, file_bytes("null", ""));
  EXPECT_TRUE(rpct::read_safetensors(path).empty());
}
