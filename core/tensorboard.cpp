#include "core/tensorboard.h"

#include <unistd.h>

#include <boost/crc.hpp>
#include <boost/filesystem.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace rpct {
namespace {

// Protocol-buffer wire format: a field's key is (number << 3) | wire type.
constexpr int kVarint = 0, kFixed64 = 1, kBytes = 2, kFixed32 = 5;

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}
void put_key(std::string& out, int field, int wire_type) { put_varint(out, (static_cast<uint64_t>(field) << 3) | wire_type); }
void put_fixed(std::string& out, const void* bytes, size_t n) {  // little endian (x86_64, aarch64)
  out.append(static_cast<const char*>(bytes), n);
}
void put_bytes(std::string& out, int field, const std::string& bytes) {
  put_key(out, field, kBytes);
  put_varint(out, bytes.size());
  out += bytes;
}

// The fields every Event starts with.
std::string event_head(double wall_time, int64_t step) {
  std::string e;
  put_key(e, 1, kFixed64);
  put_fixed(e, &wall_time, sizeof(wall_time));
  put_key(e, 2, kVarint);
  put_varint(e, static_cast<uint64_t>(step));
  return e;
}

// An Event holding a Summary of one Value (tag + the value's own encoded field).
std::string summary_event(double wall_time, int64_t step, const std::string& tag, const std::string& value_field) {
  std::string value;
  put_bytes(value, 1, tag);
  value += value_field;
  std::string summary;
  put_bytes(summary, 1, value);
  std::string e = event_head(wall_time, step);
  put_bytes(e, 5, summary);
  return e;
}

}  // namespace

uint32_t crc32c(const void* data, size_t size) {
  boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> crc;  // Castagnoli, reflected
  crc.process_bytes(data, size);
  return crc.checksum();
}

uint32_t masked_crc32c(const void* data, size_t size) {
  const uint32_t crc = crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

std::string tfrecord(const std::string& payload) {
  std::string r;
  const uint64_t length = payload.size();
  put_fixed(r, &length, sizeof(length));
  const uint32_t length_crc = masked_crc32c(&length, sizeof(length));
  put_fixed(r, &length_crc, sizeof(length_crc));
  r += payload;
  const uint32_t data_crc = masked_crc32c(payload.data(), payload.size());
  put_fixed(r, &data_crc, sizeof(data_crc));
  return r;
}

std::string file_version_event(double wall_time) {
  std::string e = event_head(wall_time, 0);
  put_bytes(e, 3, "brain.Event:2");
  return e;
}

std::string scalar_event(double wall_time, int64_t step, const std::string& tag, float value) {
  std::string field;
  put_key(field, 2, kFixed32);
  put_fixed(field, &value, sizeof(value));
  return summary_event(wall_time, step, tag, field);
}

std::string image_event(double wall_time, int64_t step, const std::string& tag, int height, int width, int channels,
                        const std::vector<uint8_t>& png) {
  std::string image;
  put_key(image, 1, kVarint);
  put_varint(image, static_cast<uint64_t>(height));
  put_key(image, 2, kVarint);
  put_varint(image, static_cast<uint64_t>(width));
  put_key(image, 3, kVarint);
  put_varint(image, static_cast<uint64_t>(channels));  // colorspace: 1 grey, 3 RGB, 4 RGBA
  put_bytes(image, 4, std::string(png.begin(), png.end()));
  std::string field;
  put_bytes(field, 4, image);
  return summary_event(wall_time, step, tag, field);
}

std::string session_start_event(double wall_time, int64_t step) {
  std::string log;
  put_key(log, 1, kVarint);
  put_varint(log, 1);  // SessionLog.START
  std::string e = event_head(wall_time, step);
  put_bytes(e, 6, log);
  return e;
}

EventsWriter::EventsWriter(const std::string& dir) {
  boost::system::error_code ec;
  boost::filesystem::create_directories(dir, ec);
  if (ec) throw std::runtime_error(dir + ": cannot create the TensorBoard folder: " + ec.message());
  char host[256] = "localhost";
  gethostname(host, sizeof(host) - 1);
  const double t = now();
  char name[512];  // TensorBoard reads every file whose name holds "tfevents", in name order: time first
  std::snprintf(name, sizeof(name), "events.out.tfevents.%010lld.%s.%d", static_cast<long long>(t), host,
                static_cast<int>(getpid()));
  path_ = dir + "/" + name;
  file_ = std::fopen(path_.c_str(), "wb");
  if (!file_) throw std::runtime_error(path_ + ": cannot create: " + std::strerror(errno));
  write(file_version_event(t));
  flush();
}

EventsWriter::~EventsWriter() {
  if (file_) std::fclose(file_);
}

EventsWriter::EventsWriter(EventsWriter&& other) noexcept
    : file_(std::exchange(other.file_, nullptr)), path_(std::move(other.path_)) {}

EventsWriter& EventsWriter::operator=(EventsWriter&& other) noexcept {
  if (this != &other) {
    if (file_) std::fclose(file_);
    file_ = std::exchange(other.file_, nullptr);
    path_ = std::move(other.path_);
  }
  return *this;
}

void EventsWriter::write(const std::string& event) {
  if (!file_) return;
  const std::string record = tfrecord(event);
  if (std::fwrite(record.data(), 1, record.size(), file_) != record.size())
    throw std::runtime_error(path_ + ": write failed: " + std::strerror(errno));
}

void EventsWriter::scalar(int64_t step, const std::string& tag, double value, double wall_time) {
  write(scalar_event(wall_time, step, tag, static_cast<float>(value)));
}

void EventsWriter::image(int64_t step, const std::string& tag, int height, int width, int channels,
                         const std::vector<uint8_t>& png, double wall_time) {
  write(image_event(wall_time, step, tag, height, width, channels, png));
}

void EventsWriter::session_start(int64_t step, double wall_time) { write(session_start_event(wall_time, step)); }

void EventsWriter::flush() {
  if (file_ && std::fflush(file_) != 0) throw std::runtime_error(path_ + ": flush failed: " + std::strerror(errno));
}

double EventsWriter::now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace rpct
