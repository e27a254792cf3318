#include "trainer/run_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <boost/filesystem.hpp>
#include <stdexcept>

namespace rpct {

std::string default_run_name(const Config& cfg) {
  if (!cfg.run.name.empty()) return cfg.run.name;
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char ts[32];
  std::strftime(ts, sizeof(ts), "%Y%m%d-%H%M%S", std::gmtime(&now));
  std::string stem = boost::filesystem::path(cfg.source).stem().string();
  if (stem.empty() || stem[0] == '<') stem = "run";
  return stem + "-" + ts;
}

std::string make_run_dir(const std::string& path) {
  boost::system::error_code ec;
  boost::filesystem::create_directories(path, ec);
  if (ec) throw std::runtime_error(path + ": cannot create run directory: " + ec.message());
  return path;
}

void write_file_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw std::runtime_error(tmp + ": cannot open for writing");
  size_t off = 0;
  while (off < text.size()) {
    const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n <= 0) {
      ::close(fd);
      ::unlink(tmp.c_str());
      throw std::runtime_error(tmp + ": write failed (disk full?)");
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    throw std::runtime_error(tmp + ": fsync/close failed");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    throw std::runtime_error(path + ": rename from temporary file failed");
  }
}

}  // namespace rpct
