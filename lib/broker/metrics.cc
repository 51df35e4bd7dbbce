#include "broker/metrics.h"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runnel/protocol/api_keys.h"

namespace runnel::broker {
namespace {

std::string ApiName(int key) {
  if (key < 0) return "other";
  const protocol::ApiDescriptor* api = protocol::FindApi(static_cast<int16_t>(key));
  return api != nullptr ? std::string(api->name) : absl::StrCat("api_", key);
}

// Label values may hold any character; Prometheus wants \\, \" and \n
// escaped.
std::string LabelValue(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

std::string Seconds(int64_t us) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", static_cast<double>(us) / 1e6);
  return buf;
}

void Header(std::string* out, const char* name, const char* type, const char* help) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

}  // namespace

const BrokerMetrics::PerApi& BrokerMetrics::Slot(int16_t api_key) const {
  return apis_[api_key >= 0 && api_key < kMaxApiKey ? api_key : kMaxApiKey];
}

void BrokerMetrics::RecordRequest(int16_t api_key, int64_t latency_us, bool ok) {
  PerApi& a = Slot(api_key);
  a.count.fetch_add(1, std::memory_order_relaxed);
  if (!ok) a.errors.fetch_add(1, std::memory_order_relaxed);
  a.sum_us.fetch_add(latency_us, std::memory_order_relaxed);
  size_t b = std::lower_bound(kBucketBoundsUs.begin(), kBucketBoundsUs.end(), latency_us) -
             kBucketBoundsUs.begin();
  a.buckets[b].fetch_add(1, std::memory_order_relaxed);
}

int64_t BrokerMetrics::requests(int16_t api_key) const {
  return Slot(api_key).count.load(std::memory_order_relaxed);
}

std::string BrokerMetrics::Render(const MetricsSources& sources) const {
  std::string out;
  std::vector<int> seen;
  for (int k = 0; k <= kMaxApiKey; ++k) {
    if (apis_[k].count.load(std::memory_order_relaxed) > 0) seen.push_back(k);
  }
  auto label = [](int k) { return k == kMaxApiKey ? std::string("other") : ApiName(k); };

  Header(&out, "runnel_requests_total", "counter", "Requests read, by API.");
  for (int k : seen) {
    absl::StrAppend(&out, "runnel_requests_total{api=\"", label(k), "\"} ",
                    apis_[k].count.load(std::memory_order_relaxed), "\n");
  }
  Header(&out, "runnel_request_errors_total", "counter",
         "Requests that closed the connection instead of being answered, by API.");
  for (int k : seen) {
    absl::StrAppend(&out, "runnel_request_errors_total{api=\"", label(k), "\"} ",
                    apis_[k].errors.load(std::memory_order_relaxed), "\n");
  }
  Header(&out, "runnel_request_duration_seconds", "histogram",
         "Time from a request's arrival to its response being ready, by API.");
  for (int k : seen) {
    const PerApi& a = apis_[k];
    std::string api = label(k);
    int64_t cumulative = 0;
    for (size_t b = 0; b < a.buckets.size(); ++b) {
      cumulative += a.buckets[b].load(std::memory_order_relaxed);
      std::string le = b < kBucketBoundsUs.size() ? Seconds(kBucketBoundsUs[b]) : "+Inf";
      absl::StrAppend(&out, "runnel_request_duration_seconds_bucket{api=\"", api, "\",le=\"", le,
                      "\"} ", cumulative, "\n");
    }
    absl::StrAppend(&out, "runnel_request_duration_seconds_sum{api=\"", api, "\"} ",
                    Seconds(a.sum_us.load(std::memory_order_relaxed)), "\n");
    // The count is the +Inf bucket, so that the two always agree.
    absl::StrAppend(&out, "runnel_request_duration_seconds_count{api=\"", api, "\"} ", cumulative,
                    "\n");
  }

  if (sources.net != nullptr) {
    const net::ServerStats& n = *sources.net;
    Header(&out, "runnel_bytes_in_total", "counter", "Request bytes read (frames).");
    absl::StrAppend(&out, "runnel_bytes_in_total ", n.bytes_in.load(std::memory_order_relaxed),
                    "\n");
    Header(&out, "runnel_bytes_out_total", "counter", "Response bytes written (frames).");
    absl::StrAppend(&out, "runnel_bytes_out_total ", n.bytes_out.load(std::memory_order_relaxed),
                    "\n");
    Header(&out, "runnel_connections_active", "gauge", "Open client connections.");
    absl::StrAppend(&out, "runnel_connections_active ",
                    n.connections_active.load(std::memory_order_relaxed), "\n");
    Header(&out, "runnel_connections_accepted_total", "counter", "Client connections accepted.");
    absl::StrAppend(&out, "runnel_connections_accepted_total ",
                    n.connections_accepted.load(std::memory_order_relaxed), "\n");
  }

  if (sources.topics != nullptr) {
    std::vector<std::shared_ptr<const Topic>> topics = sources.topics->List();
    std::sort(topics.begin(), topics.end(),
              [](const auto& a, const auto& b) { return a->name < b->name; });
    int64_t partitions = 0;
    for (const auto& t : topics) partitions += static_cast<int64_t>(t->partitions.size());
    Header(&out, "runnel_topics", "gauge", "Topics.");
    absl::StrAppend(&out, "runnel_topics ", topics.size(), "\n");
    Header(&out, "runnel_partitions", "gauge", "Partitions of all topics.");
    absl::StrAppend(&out, "runnel_partitions ", partitions, "\n");
    Header(&out, "runnel_log_size_bytes", "gauge", "Bytes in each partition's log segments.");
    for (const auto& t : topics) {
      for (const auto& p : t->partitions) {
        absl::StrAppend(&out, "runnel_log_size_bytes{topic=\"", LabelValue(t->name),
                        "\",partition=\"", p->index, "\"} ", p->log->size_bytes(), "\n");
      }
    }
    Header(&out, "runnel_log_end_offset", "gauge", "Next offset of each partition's log.");
    for (const auto& t : topics) {
      for (const auto& p : t->partitions) {
        absl::StrAppend(&out, "runnel_log_end_offset{topic=\"", LabelValue(t->name),
                        "\",partition=\"", p->index, "\"} ", p->log->log_end_offset(), "\n");
      }
    }
  }

  if (sources.groups) {
    Header(&out, "runnel_groups", "gauge", "Consumer groups, by state.");
    for (const auto& [state, n] : sources.groups()) {
      absl::StrAppend(&out, "runnel_groups{state=\"", LabelValue(state), "\"} ", n, "\n");
    }
  }
  return out;
}

}  // namespace runnel::broker
