// Files for tests: a fresh temporary directory removed at the end of the scope, and whole-file byte
// reads and writes (to build, truncate or damage a file on purpose).
#pragma once
#include <boost/filesystem.hpp>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

namespace rpct::test {

class TempDir {
 public:
  TempDir() : path_(boost::filesystem::temp_directory_path() / boost::filesystem::unique_path("rpct_test_%%%%%%%%")) {
    boost::filesystem::create_directories(path_);
  }
  ~TempDir() {
    boost::system::error_code ignored;
    boost::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string str() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  boost::filesystem::path path_;
};

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error(path + ": cannot write");
}

}  // namespace rpct::test
