#include "tools/runnel/log_files.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "storage/file_util.h"
#include "storage/log_format.h"
#include "storage/log_manager_impl.h"

namespace runnel::tools {

namespace rb = runnel::record_batch;
using storage::JoinPath;

absl::StatusOr<std::vector<SegmentFiles>> ListSegments(const std::string& partition_dir) {
  absl::StatusOr<std::vector<std::string>> names = storage::ListDir(partition_dir);
  if (!names.ok()) return names.status();
  std::vector<SegmentFiles> segments;
  for (const std::string& name : *names) {
    std::optional<int64_t> base = storage::ParseSegmentFileName(name, storage::kLogFileSuffix);
    if (!base.has_value()) continue;
    segments.push_back(
        {*base, JoinPath(partition_dir, name),
         JoinPath(partition_dir, storage::SegmentFileName(*base, storage::kIndexFileSuffix)),
         JoinPath(partition_dir, storage::SegmentFileName(*base, storage::kTimeIndexFileSuffix))});
  }
  std::sort(segments.begin(), segments.end(), [](const SegmentFiles& a, const SegmentFiles& b) {
    return a.base_offset < b.base_offset;
  });
  return segments;
}

absl::StatusOr<std::vector<std::string>> ListPartitionDirs(const std::string& data_dir) {
  absl::StatusOr<std::vector<std::string>> names = storage::ListDir(data_dir);
  if (!names.ok()) return names.status();
  std::vector<std::string> dirs;
  for (const std::string& name : *names) {
    std::string path = JoinPath(data_dir, name);
    if (!storage::IsDirectory(path) || absl::EndsWith(name, storage::kDeleteDirSuffix)) continue;
    if (!storage::ParseLogDirName(name).has_value()) continue;
    dirs.push_back(std::move(path));
  }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

absl::StatusOr<MappedFile> MappedFile::Open(const std::string& path) {
  absl::StatusOr<storage::FileHandle> fd = storage::OpenFile(path, O_RDONLY);
  if (!fd.ok()) return fd.status();
  absl::StatusOr<int64_t> size = storage::FileSize(fd->get(), path);
  if (!size.ok()) return size.status();
  MappedFile file;
  if (*size == 0) return file;
  void* p = ::mmap(nullptr, static_cast<size_t>(*size), PROT_READ, MAP_SHARED, fd->get(), 0);
  if (p == MAP_FAILED) return storage::ErrnoStatus(errno, "mmap", path);
  file.data_ = static_cast<const uint8_t*>(p);
  file.size_ = static_cast<size_t>(*size);
  return file;
}

MappedFile::MappedFile(MappedFile&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
}

std::optional<ScannedBatch> BatchWalker::Next() {
  if (!error_.ok() || pos_ >= file_.size()) return std::nullopt;
  std::span<const uint8_t> rest = file_.subspan(pos_);
  absl::StatusOr<rb::BatchFrame> frame = rb::FrameBatch(rest, pos_);
  if (!frame.ok()) {
    error_ = frame.status();
    return std::nullopt;
  }
  if (frame->size == 0 || !frame->complete || rest.size() < rb::kHeaderSize) {
    error_ = absl::DataLossError(
        absl::StrCat("batch at byte ", pos_, " runs past the end of the file (",
                     frame->size == 0 ? std::string("header cut short")
                                      : absl::StrCat(frame->size, " bytes, ", rest.size(), " left"),
                     "): a torn write"));
    return std::nullopt;
  }
  ScannedBatch b;
  b.position = static_cast<int64_t>(pos_);
  b.bytes = rest.first(frame->size);
  b.header = rb::ParseBatchHeader(b.bytes.data());
  b.valid = rb::ValidateBatch(b.bytes, pos_);
  pos_ += frame->size;
  return b;
}

std::string EscapeBytes(std::span<const uint8_t> bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (uint8_t c : bytes) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

}  // namespace runnel::tools
