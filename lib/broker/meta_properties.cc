#include "broker/meta_properties.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <string_view>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "broker/server_config.h"
#include "broker/topic_registry.h"

namespace runnel::broker {
namespace {

absl::Status ErrnoError(const std::string& what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

// Writes `contents` to `path` through a temporary file and a rename, with
// fsyncs, so a crash leaves the old file or the whole new one.
absl::Status WriteFileDurably(const std::string& dir, const std::string& path,
                              const std::string& contents) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("cannot create", tmp);
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      absl::Status s = ErrnoError("cannot write", tmp);
      ::close(fd);
      return s;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    absl::Status s = ErrnoError("cannot fsync", tmp);
    ::close(fd);
    return s;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoError("cannot rename to", path);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return ErrnoError("cannot open", dir);
  int rc = ::fsync(dfd);
  ::close(dfd);
  if (rc != 0) return ErrnoError("cannot fsync", dir);
  return absl::OkStatus();
}

std::string Render(const MetaProperties& meta) {
  // java.util.Properties.store writes a comment line and the date first.
  char date[64] = "";
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  if (::gmtime_r(&now, &tm) != nullptr) {
    std::strftime(date, sizeof(date), "%a %b %d %H:%M:%S UTC %Y", &tm);
  }
  return absl::StrCat("#\n#", date, "\ncluster.id=", meta.cluster_id, "\nnode.id=", meta.node_id,
                      "\nversion=1\n");
}

}  // namespace

std::string NewClusterId() {
  for (;;) {
    protocol::Uuid id = TopicRegistry::NewTopicId();
    std::string out;
    absl::WebSafeBase64Escape(
        absl::string_view(reinterpret_cast<const char*>(id.bytes.data()), id.bytes.size()), &out);
    if (!out.empty() && out[0] != '-') return out;
  }
}

absl::StatusOr<MetaProperties> LoadOrCreateMetaProperties(const std::string& data_dir,
                                                          int32_t node_id) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create data directory ", data_dir, ": ", ec.message()));
  }
  const std::string path = (std::filesystem::path(data_dir) / kMetaPropertiesFile).string();
  if (!std::filesystem::exists(path, ec)) {
    MetaProperties meta{NewClusterId(), node_id};
    if (absl::Status s = WriteFileDurably(data_dir, path, Render(meta)); !s.ok()) return s;
    return meta;
  }
  absl::StatusOr<std::map<std::string, std::string>> props = ReadPropertiesFile(path);
  if (!props.ok()) {
    return absl::DataLossError(absl::StrCat(path, ": ", std::string(props.status().message())));
  }
  MetaProperties meta;
  auto cluster = props->find("cluster.id");
  if (cluster == props->end() || cluster->second.empty()) {
    return absl::DataLossError(absl::StrCat(path, " has no cluster.id"));
  }
  meta.cluster_id = cluster->second;
  // Kafka's ZooKeeper-mode file (version=0) calls it broker.id.
  auto node = props->find("node.id");
  if (node == props->end()) node = props->find("broker.id");
  if (node == props->end() || !absl::SimpleAtoi(node->second, &meta.node_id)) {
    return absl::DataLossError(absl::StrCat(path, " has no valid node.id"));
  }
  if (meta.node_id != node_id) {
    return absl::FailedPreconditionError(absl::StrCat(
        "stored node id ", meta.node_id, " in ", path, " does not match the configured node id ",
        node_id, ". If you moved the data, configure node.id=", meta.node_id,
        "; to start a new node, use an empty data directory."));
  }
  return meta;
}

}  // namespace runnel::broker
