// Choosing a backend per request (p2c, round robin, ip_hash), each worker's passive health, the
// active check's shared verdicts, and the admin endpoint's view of them.
#include "ringgate/proxy/backend_group.h"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <utility>

#include "absl/time/time.h"
#include "fmt/format.h"
#include "ringgate/core/clock.h"
#include "ringgate/core/log.h"

namespace ringgate {
namespace {

// splitmix64's finalizer: a full-avalanche mix, so that neighbouring inputs score unrelated.
uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t HashText(std::string_view text) {  // FNV-1a
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// "192.0.2.1:80" or "[2001:db8::1]:80", numerically.
std::string NumericAddress(const SocketAddress& address) {
  char host[NI_MAXHOST];
  char port[NI_MAXSERV];
  if (address.length == 0 || getnameinfo(address.get(), address.length, host, sizeof host, port,
                                         sizeof port, NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return "?";
  }
  return address.family() == AF_INET6 ? fmt::format("[{}]:{}", host, port)
                                      : fmt::format("{}:{}", host, port);
}

}  // namespace

// ---- BackendHealthBoard ------------------------------------------------------------------------

BackendHealthBoard::BackendHealthBoard(std::vector<SocketAddress> backends, bool checks_enabled)
    : size_(backends.size()),
      checks_enabled_(checks_enabled),
      entries_(std::make_unique<Entry[]>(backends.size())),
      addresses_(std::move(backends)) {}

bool BackendHealthBoard::RecordCheck(size_t backend, int status, int error, int64_t unix_ms) {
  Entry& e = entries_[backend];
  e.last_check_unix_ms.Set(unix_ms);
  e.last_status.Set(status);
  e.last_error.Set(error);
  const bool healthy = status >= 200 && status < 400;
  const bool was_down = e.down.load(std::memory_order_relaxed);
  if (healthy) {
    e.failures_in_a_row.Set(0);
    e.successes_in_a_row.Add(1);
    if (was_down && e.successes_in_a_row.Get() >= kChecksToFlip) {
      e.down.store(false, std::memory_order_relaxed);
      return true;
    }
  } else {
    e.successes_in_a_row.Set(0);
    e.failures_in_a_row.Add(1);
    if (!was_down && e.failures_in_a_row.Get() >= kChecksToFlip) {
      e.down.store(true, std::memory_order_relaxed);
      return true;
    }
  }
  return false;
}

std::vector<SocketAddress> BackendHealthBoard::addresses() const {
  std::lock_guard<std::mutex> lock(addresses_mu_);
  return addresses_;
}

void BackendHealthBoard::set_addresses(std::vector<SocketAddress> addresses) {
  std::lock_guard<std::mutex> lock(addresses_mu_);
  addresses_ = std::move(addresses);
}

// ---- BackendSelector ---------------------------------------------------------------------------

BackendSelector::BackendSelector(const Config& config, int worker_id, uint64_t seed)
    : config_(config),
      worker_id_(worker_id),
      states_(config.backends.size()),
      random_state_(Mix64(seed) | 1) {
  for (size_t b = 0; b < states_.size(); ++b) {
    states_[b].name_hash = HashText(config.backends[b].text);
  }
}

uint64_t BackendSelector::NextRandom() {  // xorshift64*: a few cycles, good enough to spread load
  random_state_ ^= random_state_ >> 12;
  random_state_ ^= random_state_ << 25;
  random_state_ ^= random_state_ >> 27;
  return random_state_ * 0x2545f4914f6cdd1dULL;
}

bool BackendSelector::Usable(size_t backend, int64_t now_ns) const {
  if (board_ != nullptr && board_->down(backend)) return false;
  return !Skipping(backend, now_ns);
}

int BackendSelector::Pick(std::string_view client_ip, int64_t now_ns, int exclude) {
  if (config_.lb_policy == LbPolicy::kRoundRobin) return PickRoundRobin(now_ns, exclude);
  int usable[kMaxBackends];
  size_t count = 0;
  for (size_t b = 0; b < states_.size(); ++b) {
    if (static_cast<int>(b) != exclude && Usable(b, now_ns)) usable[count++] = static_cast<int>(b);
  }
  if (count == 0) return -1;
  if (config_.lb_policy == LbPolicy::kIpHash) return PickByClientHash(client_ip, usable, count);
  return PickTwoChoices(usable, count);
}

// Two distinct random candidates; the one with fewer requests in flight on this worker wins. A tie
// (the usual case under light load) goes to the one this worker has sent fewer requests to, so
// that sequential traffic spreads evenly rather than by coin flips.
int BackendSelector::PickTwoChoices(const int* usable, size_t count) {
  if (count == 1) return usable[0];
  const size_t i = NextRandom() % count;
  size_t j = NextRandom() % (count - 1);
  if (j >= i) ++j;
  const State& a = states_[static_cast<size_t>(usable[i])];
  const State& b = states_[static_cast<size_t>(usable[j])];
  if (a.in_flight.Get() != b.in_flight.Get()) {
    return a.in_flight.Get() < b.in_flight.Get() ? usable[i] : usable[j];
  }
  return b.requests.Get() < a.requests.Get() ? usable[j] : usable[i];
}

int BackendSelector::PickRoundRobin(int64_t now_ns, int exclude) {
  const size_t n = states_.size();
  for (size_t k = 0; k < n; ++k) {
    const size_t b = (round_robin_next_ + k) % n;
    if (static_cast<int>(b) == exclude || !Usable(b, now_ns)) continue;
    round_robin_next_ = (b + 1) % n;
    return static_cast<int>(b);
  }
  return -1;
}

// Rendezvous hashing: each backend scores the client, the highest usable score wins. While every
// backend is up a client always lands on the same one; when one is down only its clients move.
int BackendSelector::PickByClientHash(std::string_view client_ip, const int* usable,
                                      size_t count) const {
  const uint64_t client = HashText(client_ip);
  int best = usable[0];
  uint64_t best_score = 0;
  for (size_t k = 0; k < count; ++k) {
    const uint64_t score = Mix64(client ^ states_[static_cast<size_t>(usable[k])].name_hash);
    if (k == 0 || score > best_score) {
      best = usable[k];
      best_score = score;
    }
  }
  return best;
}

void BackendSelector::OnRequestStarted(size_t backend) {
  State& s = states_[backend];
  s.in_flight.Add(1);
  s.requests.Add(1);
  if (metrics_ != nullptr) {
    metrics_->backend_requests[backend].Add();
    metrics_->backend_in_flight[backend].Add(1);
  }
}

void BackendSelector::OnRequestEnded(size_t backend) {
  states_[backend].in_flight.Add(-1);
  if (metrics_ != nullptr) metrics_->backend_in_flight[backend].Add(-1);
}

void BackendSelector::OnSuccess(size_t backend) {
  State& s = states_[backend];
  if (s.failures_in_a_row.Get() == 0) return;
  if (s.skipped_until_ns.Get() != 0) {
    LogLine(spdlog::level::info, "backend answers again")
        .With("worker", worker_id_)
        .With("backend", config_.backends[backend].text);
  }
  s.failures_in_a_row.Set(0);
  s.skipped_until_ns.Set(0);
}

void BackendSelector::OnFailure(size_t backend, BackendFailure kind, int64_t now_ns) {
  State& s = states_[backend];
  if (metrics_ != nullptr) {
    metrics_->backend_failures[backend][static_cast<size_t>(kind)].Add();
  }
  s.failures_in_a_row.Add(1);
  // Once skipped, the count stays at the limit or above until an answer: after the skip one more
  // failure is enough to skip it again.
  if (s.failures_in_a_row.Get() < config_.backend_max_fails || Skipping(backend, now_ns)) return;
  s.skipped_until_ns.Set(now_ns + absl::ToInt64Nanoseconds(config_.backend_fail_timeout));
  LogLine(spdlog::level::warn, "backend skipped after failures in a row")
      .With("worker", worker_id_)
      .With("backend", config_.backends[backend].text)
      .With("failures", s.failures_in_a_row.Get())
      .With("last", kBackendFailureNames[static_cast<size_t>(kind)])
      .With("for", absl::FormatDuration(config_.backend_fail_timeout));
}

int64_t BackendSelector::RetryAfterSeconds(int64_t now_ns) const {
  // Two passing checks bring a backend back that the active check has down.
  const int64_t recheck_ns =
      absl::ToInt64Nanoseconds(config_.health_check_interval) * BackendHealthBoard::kChecksToFlip;
  int64_t soonest_ns = -1;
  for (size_t b = 0; b < states_.size(); ++b) {
    int64_t wait_ns = std::max<int64_t>(0, states_[b].skipped_until_ns.Get() - now_ns);
    if (board_ != nullptr && board_->down(b)) wait_ns = std::max(wait_ns, recheck_ns);
    if (soonest_ns < 0 || wait_ns < soonest_ns) soonest_ns = wait_ns;
  }
  const int64_t seconds = (std::max<int64_t>(soonest_ns, 0) + 999'999'999) / 1'000'000'000;
  return std::clamp<int64_t>(seconds, 1, 3600);
}

// ---- BackendGroupView --------------------------------------------------------------------------

std::string BackendGroupView::BackendsJson() const {
  const int64_t now_ns = MonotonicClock::Now();  // the workers' clock
  const std::vector<SocketAddress> addresses = board_.addresses();
  fmt::memory_buffer out;
  auto sink = std::back_inserter(out);
  out.push_back('[');
  for (size_t b = 0; b < board_.size(); ++b) {
    int64_t in_flight = 0;
    uint64_t requests = 0;
    uint32_t failures_in_a_row = 0;
    int skipped_by = 0;
    for (const BackendSelectorSource* w : workers_) {
      const BackendSelector& s = w->backend_selector();
      in_flight += s.in_flight(b);
      requests += s.requests(b);
      failures_in_a_row = std::max(failures_in_a_row, s.failures_in_a_row(b));
      if (s.Skipping(b, now_ns)) ++skipped_by;
    }
    const bool down = board_.down(b);
    const char* state = down ? "down" : skipped_by > 0 ? "skipped" : "up";
    fmt::format_to(sink,
                   "{}{{\"backend\":\"{}\",\"address\":\"{}\",\"state\":\"{}\","
                   "\"skipped_by_workers\":{},\"workers\":{},\"in_flight\":{},\"requests\":{},"
                   "\"consecutive_failures\":{},\"health_check\":",
                   b == 0 ? "" : ",", config_.backends[b].text, NumericAddress(addresses[b]), state,
                   skipped_by, workers_.size(), in_flight, requests, failures_in_a_row);
    if (!board_.checks_enabled()) {
      fmt::format_to(sink, "null}}");
      continue;
    }
    const BackendHealthBoard::Entry& e = board_.entry(b);
    const int64_t checked_ms = e.last_check_unix_ms.Get();
    const int status = e.last_status.Get();
    const int error = e.last_error.Get();
    std::string result = checked_ms == 0 ? std::string("none")
                         : status != 0   ? std::to_string(status)
                                         : std::string(std::strerror(error));
    fmt::format_to(sink,
                   "{{\"state\":\"{}\",\"last_check_unix_ms\":{},\"last_result\":\"{}\","
                   "\"failures_in_a_row\":{},\"successes_in_a_row\":{}}}}}",
                   down ? "down" : "up", checked_ms, result, e.failures_in_a_row.Get(),
                   e.successes_in_a_row.Get());
  }
  out.push_back(']');
  return fmt::to_string(out);
}

void BackendGroupView::FillProcessMetrics(ProcessMetrics& process) const {
  const int64_t now_ns = MonotonicClock::Now();
  for (size_t b = 0; b < board_.size() && b < process.backend_up.size(); ++b) {
    bool up = !board_.down(b);
    for (const BackendSelectorSource* w : workers_) {
      if (w->backend_selector().Skipping(b, now_ns)) up = false;
    }
    process.backend_up[b] = up ? 1 : 0;
  }
}

}  // namespace ringgate
