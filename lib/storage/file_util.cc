#include "storage/file_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "runnel/common/status_macros.h"

namespace runnel::storage {

absl::Status ErrnoStatus(int err, absl::string_view op, absl::string_view path) {
  std::string msg = absl::StrCat(op, " ", path, ": ", std::strerror(err));
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(msg);
    case ENOENT:
      return absl::NotFoundError(msg);
    default:
      return absl::InternalError(msg);
  }
}

void FileHandle::Reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

absl::StatusOr<FileHandle> OpenFile(const std::string& path, int flags, int mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ErrnoStatus(errno, "open", path);
  return FileHandle(fd);
}

absl::Status PwritevAll(int fd, std::span<const iovec> iov_in, int64_t position,
                        absl::string_view path) {
  // Copy so short writes can advance the vector; appends pass a handful.
  iovec local[16];
  std::vector<iovec> heap;
  iovec* iov = local;
  if (iov_in.size() > 16) {
    heap.assign(iov_in.begin(), iov_in.end());
    iov = heap.data();
  } else {
    std::copy(iov_in.begin(), iov_in.end(), local);
  }
  size_t count = iov_in.size();
  while (true) {
    while (count > 0 && iov->iov_len == 0) {  // nothing to write: pwritev would return 0
      ++iov;
      --count;
    }
    if (count == 0) break;
    ssize_t n = ::pwritev(fd, iov, static_cast<int>(std::min<size_t>(count, IOV_MAX)), position);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "write", path);
    }
    if (n == 0) return ErrnoStatus(EIO, "write", path);
    position += n;
    size_t done = static_cast<size_t>(n);
    while (count > 0 && done >= iov->iov_len) {
      done -= iov->iov_len;
      ++iov;
      --count;
    }
    if (count > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + done;
      iov->iov_len -= done;
    }
  }
  return absl::OkStatus();
}

absl::Status PwriteAll(int fd, const void* data, size_t size, int64_t position,
                       absl::string_view path) {
  iovec iov{const_cast<void*>(data), size};
  return PwritevAll(fd, std::span<const iovec>(&iov, 1), position, path);
}

absl::StatusOr<size_t> PreadUpTo(int fd, void* data, size_t size, int64_t position,
                                 absl::string_view path) {
  size_t got = 0;
  while (got < size) {
    ssize_t n = ::pread(fd, static_cast<char*>(data) + got, size - got,
                        position + static_cast<int64_t>(got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "read", path);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return got;
}

absl::StatusOr<int64_t> FileSize(int fd, absl::string_view path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoStatus(errno, "stat", path);
  return static_cast<int64_t>(st.st_size);
}

absl::Status Truncate(int fd, int64_t size, absl::string_view path) {
  if (::ftruncate(fd, size) != 0) return ErrnoStatus(errno, "truncate", path);
  return absl::OkStatus();
}

absl::Status Fsync(int fd, absl::string_view path) {
  if (::fdatasync(fd) != 0) return ErrnoStatus(errno, "fsync", path);
  return absl::OkStatus();
}

absl::Status FsyncDir(const std::string& dir) {
  RUNNEL_ASSIGN_OR_RETURN(FileHandle fh, OpenFile(dir, O_RDONLY | O_DIRECTORY));
  if (::fsync(fh.get()) != 0) return ErrnoStatus(errno, "fsync", dir);
  return absl::OkStatus();
}

absl::Status RenameFile(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return ErrnoStatus(errno, "rename", from);
  return absl::OkStatus();
}

absl::Status RemoveFile(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, "unlink", path);
  }
  return absl::OkStatus();
}

absl::Status RemoveTree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) return ErrnoStatus(ec.value(), "remove", path);
  return absl::OkStatus();
}

absl::Status CreateDirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return ErrnoStatus(ec.value(), "mkdir", path);
  return absl::OkStatus();
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return ErrnoStatus(errno, "opendir", dir);
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    absl::string_view name = e->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  ::closedir(d);
  return names;
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents) {
  std::string tmp = path + ".tmp";
  {
    RUNNEL_ASSIGN_OR_RETURN(FileHandle fh, OpenFile(tmp, O_WRONLY | O_CREAT | O_TRUNC));
    RUNNEL_RETURN_IF_ERROR(PwriteAll(fh.get(), contents.data(), contents.size(), 0, tmp));
    RUNNEL_RETURN_IF_ERROR(Fsync(fh.get(), tmp));
  }
  RUNNEL_RETURN_IF_ERROR(RenameFile(tmp, path));
  std::string dir = std::filesystem::path(path).parent_path().string();
  return FsyncDir(dir.empty() ? "." : dir);
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  RUNNEL_ASSIGN_OR_RETURN(FileHandle fh, OpenFile(path, O_RDONLY));
  RUNNEL_ASSIGN_OR_RETURN(int64_t size, FileSize(fh.get(), path));
  std::string out(static_cast<size_t>(size), '\0');
  RUNNEL_ASSIGN_OR_RETURN(size_t got, PreadUpTo(fh.get(), out.data(), out.size(), 0, path));
  out.resize(got);
  return out;
}

std::string JoinPath(absl::string_view dir, absl::string_view name) {
  if (dir.empty()) return std::string(name);
  if (dir.back() == '/') return absl::StrCat(dir, name);
  return absl::StrCat(dir, "/", name);
}

}  // namespace runnel::storage
