// The closing table of producer_bench and consumer_bench: per cell, the
// medians over repetitions of runnel's and librdkafka's msgs/s and CPU
// seconds per million records, and the min-max of their per-repetition
// ratios (runs alternate which client goes first, so a ratio compares two
// runs under the same machine load).
#pragma once

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace runnel::bench {

struct Series {
  std::vector<double> msgs, mbs, cpu;  // per repetition
};

// Rows in print order: a cell's label, and its Series by client name
// ("runnel", "rdkafka").
using SummaryTable = std::vector<std::pair<std::string, std::map<std::string, Series>>>;

inline double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// `label_header` names the label column ("broker size codec acks").
inline void PrintSummary(const SummaryTable& table, int reps, const char* label_header) {
  const int w = std::max<int>(24, static_cast<int>(std::string(label_header).size()));
  std::printf("\nmedians over %d reps; ratio = runnel/rdkafka per rep, min-max\n", reps);
  std::printf("%-*s %11s %11s %13s %8s %8s %13s\n", w, label_header, "runnel m/s", "rdk m/s",
              "ratio m/s", "runnel", "rdk", "ratio cpu");
  std::printf("%-*s %11s %11s %13s %8s %8s %13s\n", w, "", "", "", "", "cpu s/M", "cpu s/M", "");
  const Series none;
  for (const auto& [label, by_client] : table) {
    auto find = [&](const char* client) -> const Series& {
      auto it = by_client.find(client);
      return it != by_client.end() ? it->second : none;
    };
    const Series& a = find("runnel");
    const Series& b = find("rdkafka");
    if (a.msgs.empty() || b.msgs.empty()) {  // one client only (e.g. --client)
      std::printf("%-*s %11.0f %11.0f %13s %8.2f %8.2f\n", w, label.c_str(), Median(a.msgs),
                  Median(b.msgs), "", Median(a.cpu), Median(b.cpu));
      continue;
    }
    double rmin = 1e9, rmax = 0, cmin = 1e9, cmax = 0;
    for (size_t i = 0; i < a.msgs.size() && i < b.msgs.size(); ++i) {
      if (b.msgs[i] > 0) {
        rmin = std::min(rmin, a.msgs[i] / b.msgs[i]);
        rmax = std::max(rmax, a.msgs[i] / b.msgs[i]);
      }
      if (i < a.cpu.size() && i < b.cpu.size() && b.cpu[i] > 0) {
        cmin = std::min(cmin, a.cpu[i] / b.cpu[i]);
        cmax = std::max(cmax, a.cpu[i] / b.cpu[i]);
      }
    }
    std::printf("%-*s %11.0f %11.0f %6.2f-%-6.2f %8.2f %8.2f %6.2f-%-6.2f\n", w, label.c_str(),
                Median(a.msgs), Median(b.msgs), rmin, rmax, Median(a.cpu), Median(b.cpu), cmin,
                cmax);
  }
}

}  // namespace runnel::bench
