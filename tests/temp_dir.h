// A fresh directory for one test under $TMPDIR (else /tmp), removed with
// all it holds when the object goes. Shared by the tests of every layer.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace runnel::testing {

class TempDir {
 public:
  // The directory is named "<prefix>-XXXXXX"; a test that cannot make it
  // cannot run, so it throws (Catch2 reports the test as failed).
  explicit TempDir(std::string_view prefix = "runnel-test") {
    const char* base = getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/" + std::string(prefix) +
                       "-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      throw std::runtime_error("mkdtemp " + tmpl + " failed");
    }
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace runnel::testing
