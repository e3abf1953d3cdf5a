// --check-config's checks of what start-up reads besides the flags (config_check.h).
#include "ringgate/config/config_check.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "ringgate/config/flags.h"
#include "ringgate/core/uring_features.h"
#include "ringgate/tls/tls_context.h"

namespace ringgate {
namespace {

// The access log is opened for appending at start (and created if missing): the file must be
// writable, or its folder must be, without the check creating it.
void CheckAccessLog(const std::string& path, std::vector<std::string>& problems) {
  if (path.empty() || path == "off") return;
  if (access(path.c_str(), F_OK) == 0) {
    if (access(path.c_str(), W_OK) != 0) {
      problems.push_back(
          absl::StrCat("--access-log: cannot write '", path, "': ", std::strerror(errno)));
    }
    return;
  }
  const size_t slash = path.rfind('/');
  const std::string folder =
      slash == std::string::npos ? std::string(".") : (slash == 0 ? "/" : path.substr(0, slash));
  if (access(folder.c_str(), W_OK | X_OK) != 0) {
    problems.push_back(absl::StrCat("--access-log: cannot create '", path, "' in '", folder,
                                    "': ", std::strerror(errno)));
  }
}

}  // namespace

std::vector<std::string> CheckStartupResources(const Config& config) {
  std::vector<std::string> problems;
  // The same call start-up makes: ticket keys, every pair (readable, the key's mode, matching,
  // a handshake in memory), a DNS name on every certificate after the first.
  // (No certificates: the flags naming them were refused, and said so.)
  if (!config.certificates.empty()) {
    absl::StatusOr<TlsContext> tls =
        TlsContext::CreateServer(config.certificates, config.ticket_key_path, config.tls_groups);
    NoteProblems(problems, tls.status());
  }
  CheckAccessLog(config.access_log_path, problems);
  if (config.send_zc_threshold != 0) {
    if (absl::Status s = CheckZeroCopySendSupport(); !s.ok()) problems.emplace_back(s.message());
  }
  if (config.batch_wait_us != 0) {
    if (absl::Status s = CheckBatchWaitSupport(); !s.ok()) problems.emplace_back(s.message());
  }
  return problems;
}

}  // namespace ringgate
