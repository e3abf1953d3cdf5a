#include "ringgate/diag/metrics.h"

#include <array>
#include <cmath>
#include <iterator>
#include <string_view>
#include <type_traits>
#include <utility>

#include "fmt/format.h"
#include "ringgate/core/log.h"  // DroppedLogLines

namespace ringgate {

Histogram::Histogram(std::initializer_list<double> upper_bounds) {
  for (double b : upper_bounds) {
    if (bucket_count_ == kMaxBuckets) break;
    bounds_[bucket_count_++] = b;
  }
}

void Histogram::Observe(double value) {
  size_t i = 0;
  while (i < bucket_count_ && value > bounds_[i]) ++i;
  counts_[i].Add();
  total_.Add();
  if (value > 0) sum_micro_.Add(static_cast<uint64_t>(std::llround(value * 1e6)));
}

namespace {

using Out = fmt::memory_buffer;
using Shards = std::vector<const WorkerMetrics*>;

template <typename T>
constexpr bool kIsLabeled = requires {
  typename T::CellType;
};

// The cell type of a metric: Counter, Gauge or a histogram.
template <typename T>
struct CellOf {
  using type = T;
};
template <typename T>
requires kIsLabeled<T>
struct CellOf<T> {
  using type = typename T::CellType;
};

template <typename T>
constexpr std::string_view TypeName() {
  using Cell = typename CellOf<T>::type;
  if constexpr (std::is_base_of_v<Histogram, Cell>) {
    return "histogram";
  } else if constexpr (std::is_same_v<Cell, Counter>) {
    return "counter";
  } else {
    static_assert(std::is_same_v<Cell, Gauge>);
    return "gauge";
  }
}

template <typename T>
struct LabelsOf {
  static std::vector<std::string_view> Names() { return {}; }
};
template <typename Cell, typename... Labels>
struct LabelsOf<Labeled<Cell, Labels...>> {
  static std::vector<std::string_view> Names() { return {Labels::kName...}; }
};

template <typename T>
std::vector<std::string_view> LabelNames() {
  std::vector<std::string_view> names;
  if (TypeName<T>() == "gauge") names.push_back("worker");
  for (std::string_view n : LabelsOf<T>::Names()) names.push_back(n);
  return names;
}

// Calls visit(labels, indices) for every rendered combination of the labels' values, the first
// label outermost: labels is `a="x",b="y"`.
template <typename... Labels, typename Visit>
void ForEachLabelSet(Visit visit) {
  constexpr size_t kDepth = sizeof...(Labels);
  constexpr std::array<int, kDepth> kFirst = {Labels::kFirst...};
  const std::array<int, kDepth> kCount = {Labels::Count()...};
  const std::array<std::string_view, kDepth> names = {Labels::kName...};
  const std::array<std::string_view (*)(int), kDepth> values = {&Labels::Value...};
  std::array<int, kDepth> at = kFirst;
  for (size_t d = 0; d < kDepth; ++d) {
    if (kFirst[d] >= kCount[d]) return;
  }
  while (true) {
    std::string labels;
    for (size_t d = 0; d < kDepth; ++d) {
      labels += fmt::format("{}{}=\"{}\"", d == 0 ? "" : ",", names[d], values[d](at[d]));
    }
    visit(labels, at);
    size_t d = kDepth;
    while (d > 0) {
      --d;
      if (++at[d] < kCount[d]) break;
      at[d] = kFirst[d];
      if (d == 0) return;
    }
  }
}

template <size_t D = 0, typename Cells, size_t N>
const auto& CellAt(const Cells& cells, const std::array<int, N>& at) {
  if constexpr (D == N) {
    return cells;
  } else {
    return CellAt<D + 1>(cells[static_cast<size_t>(at[D])], at);
  }
}

void Header(Out& out, std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

template <typename F>
uint64_t SumOver(const Shards& shards, F get) {
  uint64_t total = 0;
  for (const WorkerMetrics* m : shards) total += get(*m).Get();
  return total;
}

// A histogram's buckets, sum and count, merged over the shards.
template <typename F>
void RenderHistogram(Out& out, const Shards& shards, std::string_view name, F get) {
  const Histogram& first = get(*shards.front());
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= first.bucket_count(); ++i) {
    for (const WorkerMetrics* m : shards) cumulative += get(*m).count_at(i);
    if (i < first.bucket_count()) {
      fmt::format_to(std::back_inserter(out), "{}_bucket{{le=\"{}\"}} {}\n", name,
                     first.upper_bound(i), cumulative);
    } else {
      fmt::format_to(std::back_inserter(out), "{}_bucket{{le=\"+Inf\"}} {}\n", name, cumulative);
    }
  }
  double sum = 0;
  uint64_t count = 0;
  for (const WorkerMetrics* m : shards) {
    sum += get(*m).sum();
    count += get(*m).count();
  }
  fmt::format_to(std::back_inserter(out), "{}_sum {}\n{}_count {}\n", name, sum, name, count);
}

// One family of the worker metrics: counters summed over the shards, gauges per worker,
// histograms merged.
template <typename T, typename F>
void RenderFamily(Out& out, const Shards& shards, std::string_view name, std::string_view help,
                  F get) {
  auto sink = std::back_inserter(out);
  constexpr std::string_view type = TypeName<T>();
  Header(out, name, type, help);
  if constexpr (type == "histogram") {
    RenderHistogram(out, shards, name, get);
  } else if constexpr (!kIsLabeled<T>) {
    if constexpr (type == "counter") {
      fmt::format_to(sink, "{} {}\n", name, SumOver(shards, get));
    } else {
      for (size_t w = 0; w < shards.size(); ++w) {
        fmt::format_to(sink, "{}{{worker=\"{}\"}} {}\n", name, w, get(*shards[w]).Get());
      }
    }
  } else {
    [&]<typename Cell, typename... Labels>(const Labeled<Cell, Labels...>*) {
      if constexpr (type == "counter") {
        ForEachLabelSet<Labels...>([&](const std::string& labels, const auto& at) {
          const uint64_t total = SumOver(
              shards, [&](const WorkerMetrics& m) -> const Cell& { return CellAt(get(m), at); });
          fmt::format_to(sink, "{}{{{}}} {}\n", name, labels, total);
        });
      } else {
        for (size_t w = 0; w < shards.size(); ++w) {
          ForEachLabelSet<Labels...>([&](const std::string& labels, const auto& at) {
            fmt::format_to(sink, "{}{{worker=\"{}\",{}}} {}\n", name, w, labels,
                           CellAt(get(*shards[w]), at).Get());
          });
        }
      }
    }(static_cast<const T*>(nullptr));
  }
}

// A process metric: a counter's value, or a gauge's per backend.
template <typename T>
void RenderProcessFamily(Out& out, std::string_view name, std::string_view help, const T& value) {
  auto sink = std::back_inserter(out);
  if constexpr (std::is_same_v<T, uint64_t>) {
    Header(out, name, "counter", help);
    fmt::format_to(sink, "{} {}\n", name, value);
  } else {
    Header(out, name, "gauge", help);
    ForEachLabelSet<BackendLabel>([&](const std::string& labels, const auto& at) {
      fmt::format_to(sink, "{}{{{}}} {}\n", name, labels, value[static_cast<size_t>(at[0])]);
    });
  }
}

std::vector<std::string>& BackendLabelValues() {
  static std::vector<std::string> names;
  return names;
}

}  // namespace

void SetBackendLabelValues(std::vector<std::string> names) {
  if (names.size() > static_cast<size_t>(kMaxBackendLabels)) names.resize(kMaxBackendLabels);
  BackendLabelValues() = std::move(names);
}
int BackendLabel::Count() { return static_cast<int>(BackendLabelValues().size()); }
std::string_view BackendLabel::Value(int i) { return BackendLabelValues()[static_cast<size_t>(i)]; }

ProcessMetrics ReadProcessMetrics() {
  ProcessMetrics process;
  process.log_lines_dropped = DroppedLogLines();
  return process;
}

std::string RenderPrometheus(const std::vector<const WorkerMetrics*>& shards,
                             const ProcessMetrics& process) {
  Out out;
  if (!shards.empty()) {
#define RINGGATE_RENDER_WORKER_METRIC(member, name, help, ...) \
  RenderFamily<decltype(WorkerMetrics::member)>(               \
      out, shards, name, help,                                 \
      [](const WorkerMetrics& m) -> const decltype(WorkerMetrics::member)& { return m.member; });
    RINGGATE_WORKER_METRICS(RINGGATE_RENDER_WORKER_METRIC)
#undef RINGGATE_RENDER_WORKER_METRIC
  }
#define RINGGATE_RENDER_PROCESS_METRIC(member, name, help, ...) \
  RenderProcessFamily(out, name, help, process.member);
  RINGGATE_PROCESS_METRICS(RINGGATE_RENDER_PROCESS_METRIC)
#undef RINGGATE_RENDER_PROCESS_METRIC
  return fmt::to_string(out);
}

const std::vector<MetricFamily>& MetricFamilies() {
  static const std::vector<MetricFamily> kFamilies = [] {
    std::vector<MetricFamily> families;
#define RINGGATE_WORKER_FAMILY(member, name, help, ...)                        \
  families.push_back({name, TypeName<decltype(WorkerMetrics::member)>(), help, \
                      LabelNames<decltype(WorkerMetrics::member)>()});
    RINGGATE_WORKER_METRICS(RINGGATE_WORKER_FAMILY)
#undef RINGGATE_WORKER_FAMILY
#define RINGGATE_PROCESS_FAMILY(member, name, help, ...) \
  families.push_back({name, TypeName<__VA_ARGS__>(), help, LabelsOf<__VA_ARGS__>::Names()});
    RINGGATE_PROCESS_METRICS(RINGGATE_PROCESS_FAMILY)
#undef RINGGATE_PROCESS_FAMILY
    return families;
  }();
  return kFamilies;
}

}  // namespace ringgate
