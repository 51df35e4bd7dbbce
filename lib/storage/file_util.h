// Thin, Status-returning wrappers over POSIX file calls, used by every file
// type of the storage engine (segments, indexes, checkpoints).
//
// Errors carry the path and errno text; ENOSPC and EDQUOT map to
// ResourceExhausted so callers can tell a full disk from other I/O errors.
// All functions are thread-safe.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace runnel::storage {

// The status for a failed call: ResourceExhausted for ENOSPC/EDQUOT,
// NotFound for ENOENT, Internal otherwise. Message "<op> <path>: <strerror>".
absl::Status ErrnoStatus(int err, absl::string_view op, absl::string_view path);

// Owns a file descriptor; closes it on destruction. Movable.
class FileHandle {
 public:
  FileHandle() = default;
  explicit FileHandle(int fd) : fd_(fd) {}
  FileHandle(FileHandle&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  FileHandle& operator=(FileHandle&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  FileHandle(const FileHandle&) = delete;
  FileHandle& operator=(const FileHandle&) = delete;
  ~FileHandle() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Reset();
  // Gives up ownership of the descriptor.
  int Release() { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

// open(2) with O_CLOEXEC added.
absl::StatusOr<FileHandle> OpenFile(const std::string& path, int flags, int mode = 0644);

// Writes all of `iov` at `position` (retrying short writes and EINTR).
absl::Status PwritevAll(int fd, std::span<const iovec> iov, int64_t position,
                        absl::string_view path);
absl::Status PwriteAll(int fd, const void* data, size_t size, int64_t position,
                       absl::string_view path);

// Reads up to `size` bytes at `position`; returns how many (short at EOF).
absl::StatusOr<size_t> PreadUpTo(int fd, void* data, size_t size, int64_t position,
                                 absl::string_view path);

absl::StatusOr<int64_t> FileSize(int fd, absl::string_view path);
absl::Status Truncate(int fd, int64_t size, absl::string_view path);
absl::Status Fsync(int fd, absl::string_view path);
absl::Status FsyncDir(const std::string& dir);
absl::Status RenameFile(const std::string& from, const std::string& to);
absl::Status RemoveFile(const std::string& path);  // missing is OK
absl::Status RemoveTree(const std::string& path);  // missing is OK
absl::Status CreateDirs(const std::string& path);
bool PathExists(const std::string& path);

// Names of the entries of `dir` (no "." or ".."), unsorted.
absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir);
bool IsDirectory(const std::string& path);

// Replaces `path` atomically with `contents`: writes path.tmp, fsyncs it,
// renames it over `path` and fsyncs the directory.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents);
// The whole file; NotFound when missing.
absl::StatusOr<std::string> ReadWholeFile(const std::string& path);

std::string JoinPath(absl::string_view dir, absl::string_view name);

}  // namespace runnel::storage
