// TensorBoard event files, written without TensorFlow or protobuf: the few messages a training run needs,
// encoded by hand (tensorflow/core/util/event.proto, tensorflow/core/framework/summary.proto):
//   Event { double wall_time = 1; int64 step = 2; oneof { string file_version = 3; Summary summary = 5;
//           SessionLog session_log = 6; } }
//   Summary { repeated Value value = 1; }  Value { string tag = 1; oneof { float simple_value = 2;
//           Image image = 4; } }  Image { int32 height = 1; int32 width = 2; int32 colorspace = 3;
//           bytes encoded_image_string = 4; }  SessionLog { SessionStatus status = 1; }  (START = 1)
// in TFRecord framing: uint64 length, uint32 masked CRC-32C of the length, the bytes, uint32 masked CRC-32C of
// the bytes (masked = ((crc >> 15) | (crc << 17)) + 0xa282ead8; CRC-32C from Boost.CRC). A file starts with a
// file_version event ("brain.Event:2"). tests/core/test_tensorboard.cpp checks the encoding against hand-worked
// bytes, and the events test reads a run's files with TensorBoard's own reader.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace rpct {

// CRC-32C (Castagnoli) of `size` bytes, and TFRecord's masked form of a CRC.
uint32_t crc32c(const void* data, size_t size);
uint32_t masked_crc32c(const void* data, size_t size);

// One TFRecord: the framing around `payload`.
std::string tfrecord(const std::string& payload);

// Serialized Event messages (the payload of one record each).
std::string file_version_event(double wall_time);
std::string scalar_event(double wall_time, int64_t step, const std::string& tag, float value);
// An image summary: `png` is the encoded PNG of a height x width image with `channels` (1, 3 or 4).
std::string image_event(double wall_time, int64_t step, const std::string& tag, int height, int width, int channels,
                        const std::vector<uint8_t>& png);
// SessionLog START at `step`: TensorBoard drops the points of earlier files at `step` and after (a resumed
// run's curve continues without the points logged after its checkpoint before the restart).
std::string session_start_event(double wall_time, int64_t step);

// An events file in `dir` (created): events.out.tfevents.<unix time>.<host>[.<suffix>], opened for writing;
// it starts with the file_version event. Records are buffered by stdio and flushed by flush() (and at
// destruction), so a reader sees whole records up to the last flush; a killed process leaves at most a
// partial last record, which readers skip.
class EventsWriter {
 public:
  EventsWriter() = default;
  explicit EventsWriter(const std::string& dir);
  ~EventsWriter();
  EventsWriter(EventsWriter&& other) noexcept;
  EventsWriter& operator=(EventsWriter&& other) noexcept;
  EventsWriter(const EventsWriter&) = delete;
  EventsWriter& operator=(const EventsWriter&) = delete;

  bool is_open() const { return file_ != nullptr; }
  const std::string& path() const { return path_; }
  void scalar(int64_t step, const std::string& tag, double value, double wall_time = now());
  void image(int64_t step, const std::string& tag, int height, int width, int channels,
             const std::vector<uint8_t>& png, double wall_time = now());
  void session_start(int64_t step, double wall_time = now());
  void flush();
  // Seconds since the Unix epoch (an Event's wall_time).
  static double now();

 private:
  void write(const std::string& event);
  std::FILE* file_ = nullptr;
  std::string path_;
};

}  // namespace rpct
