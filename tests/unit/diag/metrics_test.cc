#include "ringgate/diag/metrics.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>

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
                      [static_cast<int>(CloseInitiator::kClient)].Add(2);
  b.connections_closed[static_cast<int>(TerminationCause::kClean)]
                      [static_cast<int>(CloseInitiator::kClient)].Add(1);
  a.connections_in_state[static_cast<int>(LifecycleState::kDataTransfer)].Add(5);
  b.connections_in_state[static_cast<int>(LifecycleState::kDataTransfer)].Add(1);
  a.handshake_seconds.Observe(0.002);
  b.handshake_seconds.Observe(0.2);
  std::string text = RenderPrometheus({&a, &b});
  EXPECT_NE(text.find("\nringgate_connections_accepted_total 7\n"), std::string::npos);
  EXPECT_NE(text.find("ringgate_connections_closed_total{cause=\"clean\",initiator=\"client\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("ringgate_connections{worker=\"0\",state=\"data_transfer\"} 5\n"), std::string::npos);
  EXPECT_NE(text.find("ringgate_connections{worker=\"1\",state=\"data_transfer\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("ringgate_tls_handshake_duration_seconds_bucket{le=\"0.0025\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("ringgate_tls_handshake_duration_seconds_bucket{le=\"0.25\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("ringgate_tls_handshake_duration_seconds_count 2\n"), std::string::npos);
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
      return name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
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

}  // namespace
}  // namespace ringgate
