#include "ringgate/diag/metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "ringgate/diag/lifecycle.h"
#include "ringgate/tls/tls_group.h"

namespace ringgate {
namespace {

TEST(HistogramTest, ObservationsLandInTheFirstBucketThatHoldsThem) {
  Histogram h{1, 5, 10};
  for (double v : {0.5, 1.0, 3.0, 10.0, 11.0}) h.Observe(v);
  EXPECT_EQ(h.count_at(0), 2u);  // 0.5, 1.0 (le is inclusive)
  EXPECT_EQ(h.count_at(1), 1u);  // 3.0
  EXPECT_EQ(h.count_at(2), 1u);  // 10.0
  EXPECT_EQ(h.count_at(3), 1u);  // +Inf: 11.0
  EXPECT_EQ(h.count(), 5u);
  EXPECT_DOUBLE_EQ(h.sum(), 25.5);
}

TEST(RenderPrometheusTest, MergesShardsAndKeepsGaugesPerWorker) {
  WorkerMetrics a;
  WorkerMetrics b;
  a.connections_accepted.Add(3);
  b.connections_accepted.Add(4);
  a.connections_closed[static_cast<int>(TerminationCause::kClean)]
                      [static_cast<int>(CloseInitiator::kClient)]
                          .Add(2);
  b.connections_closed[static_cast<int>(TerminationCause::kClean)]
                      [static_cast<int>(CloseInitiator::kClient)]
                          .Add(1);
  a.connections_in_state[static_cast<int>(LifecycleState::kDataTransfer)].Add(5);
  b.connections_in_state[static_cast<int>(LifecycleState::kDataTransfer)].Add(1);
  a.handshake_seconds.Observe(0.002);
  b.handshake_seconds.Observe(0.2);
  std::string text = RenderPrometheus({&a, &b});
  EXPECT_NE(text.find("\nringgate_connections_accepted_total 7\n"), std::string::npos);
  EXPECT_NE(
      text.find("ringgate_connections_closed_total{cause=\"clean\",initiator=\"client\"} 3\n"),
      std::string::npos);
  EXPECT_NE(text.find("ringgate_connections{worker=\"0\",state=\"data_transfer\"} 5\n"),
            std::string::npos);
  EXPECT_NE(text.find("ringgate_connections{worker=\"1\",state=\"data_transfer\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("ringgate_tls_handshake_duration_seconds_bucket{le=\"0.0025\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("ringgate_tls_handshake_duration_seconds_bucket{le=\"0.25\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("ringgate_tls_handshake_duration_seconds_count 2\n"), std::string::npos);
}

// The backend label's values are the --backend entries, set at start-up: only those are rendered,
// counters summed over workers, the in-flight gauge per worker, the up gauge once per process.
TEST(RenderPrometheusTest, BackendFamiliesNameEachBackend) {
  SetBackendLabelValues({"10.0.0.1:80", "[2001:db8::2]:80"});
  WorkerMetrics a;
  WorkerMetrics b;
  a.backend_requests[1].Add(3);
  b.backend_requests[1].Add(4);
  a.backend_failures[0][static_cast<int>(BackendFailure::kRefused)].Add(2);
  b.backend_in_flight[1].Add(5);
  a.backend_requests[2].Add(9);  // no third backend: never rendered
  ProcessMetrics process;
  process.backend_up[0] = 0;
  process.backend_up[1] = 1;
  const std::string text = RenderPrometheus({&a, &b}, process);
  EXPECT_NE(text.find("ringgate_backend_requests_total{backend=\"[2001:db8::2]:80\"} 7\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("ringgate_backend_requests_total{backend=\"10.0.0.1:80\"} 0\n"),
            std::string::npos);
  EXPECT_NE(
      text.find("ringgate_backend_failures_total{backend=\"10.0.0.1:80\",kind=\"refused\"} 2\n"),
      std::string::npos);
  EXPECT_NE(
      text.find("ringgate_backend_failures_total{backend=\"10.0.0.1:80\",kind=\"timeout\"} 0\n"),
      std::string::npos);
  EXPECT_NE(
      text.find("ringgate_backend_in_flight_requests{worker=\"1\",backend=\"[2001:db8::2]:80\"} "
                "5\n"),
      std::string::npos);
  EXPECT_NE(text.find("ringgate_backend_up{backend=\"10.0.0.1:80\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("ringgate_backend_up{backend=\"[2001:db8::2]:80\"} 1\n"), std::string::npos);
  EXPECT_EQ(text.find(" 9\n"), std::string::npos) << "a cell past the last backend was rendered";
  SetBackendLabelValues({});
  EXPECT_EQ(RenderPrometheus({&a, &b}, process).find("backend=\""), std::string::npos);
}

TEST(RenderPrometheusTest, EveryMetricHasHelpTypeAndAUnitInItsName) {
  WorkerMetrics m;
  std::istringstream in(RenderPrometheus({&m}));
  std::string line;
  int families = 0;
  std::string last_help;
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0) {
      last_help = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_GT(line.size(), 7 + last_help.size() + 5) << "help text missing: " << line;
      continue;
    }
    if (line.rfind("# TYPE ", 0) != 0) continue;
    ++families;
    std::istringstream parts(line.substr(7));
    std::string name, type;
    parts >> name >> type;
    EXPECT_EQ(name, last_help) << "TYPE without its own HELP";
    auto ends_with = [&](const std::string& suffix) {
      return name.size() > suffix.size() &&
             name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (type == "counter") {
      EXPECT_TRUE(ends_with("_total")) << name;
    } else if (type == "histogram") {
      EXPECT_TRUE(ends_with("_seconds") || ends_with("_bytes")) << name;
    } else {
      EXPECT_EQ(type, "gauge") << name;
    }
  }
  EXPECT_GE(families, 20);
}

// Every family RenderPrometheus writes is one MetricFamilies() declares, in the same order, with
// the same type, help and label names: the two cannot drift, since both come from one list.
TEST(MetricFamiliesTest, RenderingWritesExactlyTheDeclaredFamilies) {
  // Families labelled by backend render a sample only for backends that exist.
  SetBackendLabelValues({"127.0.0.1:8080", "[::1]:8081"});
  WorkerMetrics a;
  WorkerMetrics b;
  std::istringstream in(RenderPrometheus({&a, &b}));
  std::vector<std::string> rendered;
  std::map<std::string, std::string> help;
  std::map<std::string, std::string> type;
  std::map<std::string, std::set<std::string>> labels;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0) {
      const size_t space = line.find(' ', 7);
      help[line.substr(7, space - 7)] = line.substr(space + 1);
    } else if (line.rfind("# TYPE ", 0) == 0) {
      const size_t space = line.find(' ', 7);
      rendered.push_back(line.substr(7, space - 7));
      type[rendered.back()] = line.substr(space + 1);
    } else {
      ASSERT_FALSE(rendered.empty()) << line;
      const size_t brace = line.find('{');
      if (brace == std::string::npos) continue;
      // name{a="x",b="y"} value: the label names, less the histograms' `le`.
      const std::string inner = line.substr(brace + 1, line.find('}') - brace - 1);
      std::set<std::string>& names = labels[rendered.back()];
      for (size_t at = 0; at < inner.size();) {
        const size_t eq = inner.find('=', at);
        const std::string name = inner.substr(at, eq - at);
        if (name != "le") names.insert(name);
        const size_t close = inner.find('"', eq + 2);
        at = close + 2;  // past `",`
      }
    }
  }
  const std::vector<MetricFamily>& families = MetricFamilies();
  ASSERT_EQ(rendered.size(), families.size());
  std::set<std::string_view> names;
  for (size_t i = 0; i < families.size(); ++i) {
    const MetricFamily& f = families[i];
    EXPECT_TRUE(names.insert(f.name).second) << "declared twice: " << f.name;
    EXPECT_EQ(rendered[i], f.name);
    EXPECT_EQ(type[rendered[i]], f.type) << f.name;
    EXPECT_EQ(help[rendered[i]], f.help) << f.name;
    EXPECT_FALSE(f.help.empty()) << f.name;
    EXPECT_EQ(labels[rendered[i]], std::set<std::string>(f.labels.begin(), f.labels.end()))
        << f.name;
  }
}

TEST(MetricFamiliesTest, LabelledCellsAreRenderedForEveryValueButNone) {
  WorkerMetrics m;
  m.connections_closed[static_cast<int>(TerminationCause::kTimeout)]
                      [static_cast<int>(CloseInitiator::kDrain)]
                          .Add(4);
  m.connections_closed[static_cast<int>(TerminationCause::kNone)]
                      [static_cast<int>(CloseInitiator::kNone)]
                          .Add(9);
  m.handshakes[static_cast<int>(HandshakeResult::kFailed)]
              [static_cast<int>(TlsVersionLabel::kUnknown)]
                  .Add(2);
  m.handshakes_by_group[static_cast<int>(TlsGroup::kNone)].Add(1);
  m.close_notify_not_sent[static_cast<int>(NoCloseNotifyReason::kNoHandshake)].Add(3);
  m.connection_buffered_bytes_max.Add(70000);
  const std::string text = RenderPrometheus({&m}, ProcessMetrics{.log_lines_dropped = 6});
  EXPECT_NE(
      text.find("ringgate_connections_closed_total{cause=\"timeout\",initiator=\"drain\"} 4\n"),
      std::string::npos);
  EXPECT_EQ(text.find("cause=\"none\""), std::string::npos) << "an open connection has no cause";
  EXPECT_EQ(text.find("initiator=\"none\""), std::string::npos);
  size_t closed_lines = 0;
  for (size_t at = text.find("\nringgate_connections_closed_total{"); at != std::string::npos;
       at = text.find("\nringgate_connections_closed_total{", at + 1)) {
    ++closed_lines;
  }
  EXPECT_EQ(closed_lines,
            static_cast<size_t>((kTerminationCauseCount - 1) * (kCloseInitiatorCount - 1)));
  EXPECT_NE(text.find("ringgate_tls_handshakes_total{result=\"failed\",version=\"unknown\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("ringgate_tls_handshakes_by_group_total{group=\"none\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("ringgate_tls_handshakes_by_group_total{group=\"X25519MLKEM768\"} 0\n"),
            std::string::npos);
  EXPECT_NE(text.find("ringgate_close_notify_not_sent_total{reason=\"no_handshake\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("ringgate_connection_buffered_bytes_max{worker=\"0\"} 70000\n"),
            std::string::npos);
  EXPECT_NE(text.find("ringgate_http_requests_total{status_class=\"5xx\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("ringgate_shutdown_pending_bytes_bucket{le=\"16777216\"} 0\n"),
            std::string::npos);
  EXPECT_NE(text.find("\nringgate_log_lines_dropped_total 6\n"), std::string::npos);
}

// docs/diagnostics.md's metrics table: one row per family (or a few families sharing a row),
// `| names | type | labels | meaning |`.
struct DocumentedMetric {
  std::string type;
  std::set<std::string> labels;
};

std::vector<std::string> InBackticks(const std::string& cell) {
  std::vector<std::string> words;
  for (size_t open = cell.find('`'); open != std::string::npos; open = cell.find('`', open)) {
    const size_t close = cell.find('`', open + 1);
    if (close == std::string::npos) break;
    words.push_back(cell.substr(open + 1, close - open - 1));
    open = close + 1;
  }
  return words;
}

std::map<std::string, DocumentedMetric> MetricsTableInDocs() {
  std::ifstream docs(std::string(RINGGATE_SOURCE_DIR) + "/docs/diagnostics.md");
  std::map<std::string, DocumentedMetric> table;
  std::string line;
  bool in_section = false;
  while (std::getline(docs, line)) {
    if (line.rfind("## ", 0) == 0) in_section = line == "## Metrics";
    if (!in_section || line.rfind("| `ringgate_", 0) != 0) continue;
    std::vector<std::string> cells;
    for (size_t at = 1; at < line.size();) {
      const size_t bar = line.find('|', at);
      if (bar == std::string::npos) break;
      cells.push_back(line.substr(at, bar - at));
      at = bar + 1;
    }
    if (cells.size() < 4) {
      ADD_FAILURE() << "a metrics row without four cells: " << line;
      continue;
    }
    DocumentedMetric metric;
    std::istringstream(cells[1]) >> metric.type;
    for (const std::string& label : InBackticks(cells[2])) metric.labels.insert(label);
    for (const std::string& name : InBackticks(cells[0])) {
      EXPECT_TRUE(table.emplace(name, metric).second) << "listed twice: " << name;
    }
  }
  return table;
}

TEST(MetricFamiliesTest, TheDocsTableListsExactlyTheDeclaredMetrics) {
  const std::map<std::string, DocumentedMetric> documented = MetricsTableInDocs();
  ASSERT_GE(documented.size(), 20u) << "docs/diagnostics.md's metrics table was not found";
  std::set<std::string> declared;
  for (const MetricFamily& f : MetricFamilies()) {
    const std::string name(f.name);
    declared.insert(name);
    auto row = documented.find(name);
    if (row == documented.end()) {
      ADD_FAILURE() << name << " is missing from docs/diagnostics.md's metrics table";
      continue;
    }
    EXPECT_EQ(row->second.type, f.type) << name;
    EXPECT_EQ(row->second.labels, std::set<std::string>(f.labels.begin(), f.labels.end())) << name;
  }
  for (const auto& [name, row] : documented) {
    EXPECT_EQ(declared.count(name), 1u) << name << " is documented but not declared in metrics.h";
  }
}

TEST(MetricFamiliesTest, NamesCarryTheirUnit) {
  for (const MetricFamily& f : MetricFamilies()) {
    const std::string name(f.name);
    auto ends_with = [&](const std::string& suffix) { return name.ends_with(suffix); };
    EXPECT_TRUE(name.starts_with("ringgate_")) << name;
    if (f.type == "counter") {
      EXPECT_TRUE(ends_with("_total")) << name;
    } else if (f.type == "histogram") {
      EXPECT_TRUE(ends_with("_seconds") || ends_with("_bytes")) << name;
    }
    for (char c : name) {
      EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') << name;
    }
  }
}

// The label lists generated from the enums: every value has its own name.
TEST(MetricLabelsTest, EveryTlsGroupHasADistinctName) {
  std::set<std::string_view> names;
  for (int g = 0; g < kTlsGroupLabels; ++g) {
    const std::string_view name = TlsGroupName(static_cast<TlsGroup>(g));
    EXPECT_TRUE(names.insert(name).second) << "group " << g << " has the name " << name;
    EXPECT_EQ(name == "none", static_cast<TlsGroup>(g) == TlsGroup::kNone) << g;
  }
}

TEST(MetricLabelsTest, LabelValuesComeFromTheEnumLists) {
  EXPECT_EQ(kHandshakeResults, 2);
  EXPECT_EQ(kTlsVersionLabels, 3);
  EXPECT_EQ(kNoCloseNotifyReasons, 3);
  EXPECT_EQ(kHandshakeResultNames[static_cast<int>(HandshakeResult::kFailed)], "failed");
  EXPECT_EQ(kTlsVersionLabelNames[static_cast<int>(TlsVersionLabel::kTls13)], "TLSv1.3");
  EXPECT_EQ(kNoCloseNotifyReasonNames[static_cast<int>(NoCloseNotifyReason::kPeerReset)],
            "peer_reset");
  EXPECT_EQ(CauseLabel::kFirst, 1);
  EXPECT_EQ(CauseLabel::kCount, kTerminationCauseCount);
  EXPECT_EQ(TlsGroupLabel::kCount, kTlsGroupLabels);
}

// docs/grafana-dashboard.json asks only for what ringgate exports: every metric in its queries is
// a declared family (a histogram's _bucket series included), and every label it groups by is one
// of that family's labels (or `le` for a histogram).
TEST(MetricFamiliesTest, TheGrafanaDashboardQueriesOnlyDeclaredMetricsAndLabels) {
  std::ifstream file(std::string(RINGGATE_SOURCE_DIR) + "/docs/grafana-dashboard.json");
  std::stringstream content;
  content << file.rdbuf();
  const std::string dashboard = content.str();
  ASSERT_FALSE(dashboard.empty()) << "docs/grafana-dashboard.json not found";
  std::map<std::string, const MetricFamily*> families;
  for (const MetricFamily& f : MetricFamilies()) families[std::string(f.name)] = &f;
  // Each query's aggregation: `sum [by (labels)] ([rate(]ringgate_...`. (Scanned by hand: GCC 12
  // warns falsely inside std::regex under the sanitizer build.)
  int queries = 0;
  std::set<std::string> used;
  for (size_t at = dashboard.find("sum "); at != std::string::npos;
       at = dashboard.find("sum ", at + 1)) {
    size_t p = at + 4;
    std::string by;
    if (dashboard.compare(p, 4, "by (") == 0) {
      const size_t close = dashboard.find(')', p);
      by = dashboard.substr(p + 4, close - p - 4);
      p = close + 2;
    }
    if (dashboard.compare(p, 1, "(") != 0) continue;
    ++p;
    if (dashboard.compare(p, 5, "rate(") == 0) p += 5;
    if (dashboard.compare(p, 9, "ringgate_") != 0) continue;
    const size_t end = dashboard.find_first_not_of("abcdefghijklmnopqrstuvwxyz_", p);
    ++queries;
    std::string name = dashboard.substr(p, end - p);
    const bool bucket = name.ends_with("_bucket");
    if (bucket) name.resize(name.size() - std::string("_bucket").size());
    const auto family = families.find(name);
    if (family == families.end()) {
      ADD_FAILURE() << name << " is queried by the dashboard but not declared in metrics.h";
      continue;
    }
    used.insert(name);
    EXPECT_EQ(bucket, family->second->type == "histogram") << name;
    std::stringstream labels(by);
    for (std::string label; std::getline(labels, label, ',');) {
      label.erase(0, label.find_first_not_of(' '));
      const auto& declared = family->second->labels;
      const bool known = (bucket && label == "le") ||
                         std::find(declared.begin(), declared.end(), label) != declared.end();
      EXPECT_TRUE(known) << name << " has no label " << label;
    }
  }
  EXPECT_GE(queries, 15);
  // What the dashboard is for: how connections close, handshakes, connections per worker.
  for (const char* needed :
       {"ringgate_connections_closed_total", "ringgate_shutdown_duration_seconds",
        "ringgate_shutdown_flush_duration_seconds", "ringgate_shutdown_peer_close_duration_seconds",
        "ringgate_tls_handshakes_total", "ringgate_connections"}) {
    EXPECT_EQ(used.count(needed), 1u) << needed;
  }
}

}  // namespace
}  // namespace ringgate
