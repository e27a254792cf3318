// The TensorBoard event encoding (core/tensorboard.h) against hand-worked bytes: CRC-32C's check value, the
// TFRecord framing, and a scalar / image / SessionLog event field by field. (tests/trainer/test_tensorboard_events.sh
// reads a whole run's files with TensorBoard's own reader.)
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "core/tensorboard.h"

namespace {

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s += static_cast<char>(c);
  return s;
}
std::string le(const void* p, size_t n) { return std::string(static_cast<const char*>(p), n); }

TEST(TensorBoard, Crc32cCheckValueAndMask) {
  EXPECT_EQ(rpct::crc32c("123456789", 9), 0xE3069283u);  // CRC-32C's published check value
  // TFRecord's mask: ((crc >> 15) | (crc << 17)) + 0xa282ead8, worked by hand for the check value.
  EXPECT_EQ(rpct::masked_crc32c("123456789", 9), 0xC78AB0E5u);
}

TEST(TensorBoard, RecordFraming) {
  const std::string payload = "abc";
  const std::string r = rpct::tfrecord(payload);
  ASSERT_EQ(r.size(), 8u + 4u + 3u + 4u);
  uint64_t length = 0;
  std::memcpy(&length, r.data(), 8);
  EXPECT_EQ(length, 3u);
  uint32_t crc = 0;
  std::memcpy(&crc, r.data() + 8, 4);
  EXPECT_EQ(crc, rpct::masked_crc32c(r.data(), 8));
  EXPECT_EQ(r.substr(12, 3), payload);
  std::memcpy(&crc, r.data() + 15, 4);
  EXPECT_EQ(crc, rpct::masked_crc32c("abc", 3));
}

TEST(TensorBoard, ScalarEventFields) {
  const double wall = 1.5;
  const float value = 2.0f;
  // Event{wall_time = 1 (fixed64), step = 2 (varint), summary = 5 {value = 1 {tag = 1 "a", simple_value = 2}}}
  const std::string expected = bytes({0x09}) + le(&wall, 8) + bytes({0x10, 0x03}) + bytes({0x2A, 10}) +
                               bytes({0x0A, 8}) + bytes({0x0A, 1, 'a'}) + bytes({0x15}) + le(&value, 4);
  EXPECT_EQ(rpct::scalar_event(wall, 3, "a", value), expected);
  // A step of 300 takes two varint bytes (0xAC 0x02).
  EXPECT_EQ(rpct::scalar_event(wall, 300, "a", value).substr(9, 3), bytes({0x10, 0xAC, 0x02}));
}

TEST(TensorBoard, ImageAndSessionEvents) {
  const double wall = 0.0;
  const std::vector<uint8_t> png = {1, 2, 3};
  // Image{height = 1: 2, width = 2: 5, colorspace = 3: 3, encoded_image_string = 4: 3 bytes} inside Value.image = 4.
  const std::string image = bytes({0x08, 2, 0x10, 5, 0x18, 3, 0x22, 3, 1, 2, 3});
  const std::string value = bytes({0x0A, 1, 't'}) + bytes({0x22, static_cast<int>(image.size())}) + image;
  const std::string expected = bytes({0x09}) + le(&wall, 8) + bytes({0x10, 0x07}) +
                               bytes({0x2A, static_cast<int>(value.size() + 2), 0x0A, static_cast<int>(value.size())}) + value;
  EXPECT_EQ(rpct::image_event(wall, 7, "t", 2, 5, 3, png), expected);
  // SessionLog{status = 1: START (1)} in field 6.
  EXPECT_EQ(rpct::session_start_event(wall, 4), bytes({0x09}) + le(&wall, 8) + bytes({0x10, 0x04, 0x32, 2, 0x08, 1}));
  // file_version = 3: "brain.Event:2"
  const std::string fv = rpct::file_version_event(wall);
  EXPECT_EQ(fv.substr(11), bytes({0x1A, 13}) + "brain.Event:2");
}

}  // namespace
