#include "core/file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <boost/filesystem.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace rpct {

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw FileReadError(path + ": cannot open: " + std::strerror(errno));
  std::vector<uint8_t> out;
  if (std::fseek(f.get(), 0, SEEK_END) == 0) {
    const long n = std::ftell(f.get());
    if (n > 0) out.reserve(static_cast<size_t>(n));
    std::fseek(f.get(), 0, SEEK_SET);
  }
  uint8_t buf[1 << 16];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), f.get())) > 0) out.insert(out.end(), buf, buf + n);
  if (std::ferror(f.get())) throw FileReadError(path + ": read error");
  if (out.empty()) throw FileReadError(path + ": empty file (0 bytes)");
  return out;
}

void write_file_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!f) throw std::runtime_error(path + ": cannot create: " + std::strerror(errno));
  // An empty vector's data() may be null, and fwrite's buffer is declared nonnull (UBSan): write nothing then.
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f.get()) != bytes.size())
    throw std::runtime_error(path + ": write failed");
}

void write_atomic(const std::string& path, const std::function<void(const WriteFn&)>& fill) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw std::runtime_error(tmp + ": cannot open for writing: " + std::strerror(errno));
  auto fail = [&](const std::string& why) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw std::runtime_error(path + ": " + why);
  };
  try {
    fill([&](const void* data, size_t bytes) {
      const char* p = static_cast<const char*>(data);
      while (bytes > 0) {
        const ssize_t n = ::write(fd, p, bytes);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw std::runtime_error(std::string("write failed: ") + (n < 0 ? std::strerror(errno) : "no progress"));
        p += n;
        bytes -= static_cast<size_t>(n);
      }
    });
  } catch (const std::exception& e) {
    fail(e.what());
  }
  if (::fsync(fd) != 0) fail(std::string("fsync failed: ") + std::strerror(errno));
  ::close(fd);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    throw std::runtime_error(path + ": rename from temporary file failed: " + std::strerror(errno));
  }
  // Make the rename itself durable.
  const std::string dir = boost::filesystem::path(path).parent_path().string();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void write_file_atomic(const std::string& path, const std::string& text) {
  write_atomic(path, [&](const WriteFn& write) { write(text.data(), text.size()); });
}

}  // namespace rpct
