// tls_group.h
// The TLS key exchange groups ringgate can offer, by the names the --tls-groups flag, the close
// log line and the metrics use (IANA's TLS Supported Groups names). No FFDHE group exists here:
// the wolfSSL build has no finite-field Diffie-Hellman at all.
//
//   absl::StatusOr<std::vector<TlsGroup>> groups = ParseTlsGroups("X25519MLKEM768:x25519");
//   if (!groups.ok()) { ... the message names the bad entry and the known names ... }
//   std::string_view name = TlsGroupName(TlsGroup::kX25519);  // "x25519"
#ifndef RINGGATE_TLS_TLS_GROUP_H_
#define RINGGATE_TLS_TLS_GROUP_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace ringgate {

// In the default order of preference. kNone is a label only: no group was negotiated (a failed
// or TLS 1.2-resumed handshake) or wolfSSL named one ringgate does not offer.
// The values, listed once: the enum and its count are generated from this list. (Each group's
// name, code point and wolfSSL spelling are in src/tls/tls_group.cc's table.)
#define RINGGATE_TLS_GROUPS(X)                                         \
  /* ML-KEM-768 + X25519 hybrid (0x11EC), what browsers offer first */ \
  X(kX25519MLKEM768)                                                   \
  /* ML-KEM-768 + P-256 hybrid (0x11EB) */                             \
  X(kSecP256r1MLKEM768)                                                \
  /* 0x001D */                                                         \
  X(kX25519)                                                           \
  /* P-256, 0x0017 */                                                  \
  X(kSecp256r1)                                                        \
  /* P-384, 0x0018 */                                                  \
  X(kSecp384r1)                                                        \
  X(kNone)

#define RINGGATE_TLS_GROUP_VALUE(value) value,
#define RINGGATE_TLS_GROUP_ONE(value) +1
enum class TlsGroup : uint8_t { RINGGATE_TLS_GROUPS(RINGGATE_TLS_GROUP_VALUE) };
// Every value, kNone included: the size of a per-group metric.
inline constexpr int kTlsGroupLabels = 0 RINGGATE_TLS_GROUPS(RINGGATE_TLS_GROUP_ONE);
#undef RINGGATE_TLS_GROUP_VALUE
#undef RINGGATE_TLS_GROUP_ONE
static_assert(static_cast<int>(TlsGroup::kNone) + 1 == kTlsGroupLabels,
              "kNone is last: tls_group.cc's table has one entry for each group before it");

// "X25519MLKEM768", "SecP256r1MLKEM768", "x25519", "secp256r1", "secp384r1", "none".
std::string_view TlsGroupName(TlsGroup group);
// "X25519MLKEM768:x25519", as --tls-groups takes it.
std::string TlsGroupList(const std::vector<TlsGroup>& groups);
// Whether this build's wolfSSL has the group (the 5.7.2 fallback has no ML-KEM hybrids).
bool TlsGroupAvailable(TlsGroup group);
// X25519MLKEM768, X25519, P-256, P-384, less what this build lacks.
std::vector<TlsGroup> DefaultTlsGroups();
// Colon-separated names, case-insensitive; P-256 and P-384 are accepted for secp256r1 and
// secp384r1. Refused: an unknown or repeated name, an empty list or entry, a group this build
// lacks.
absl::StatusOr<std::vector<TlsGroup>> ParseTlsGroups(std::string_view list);
// IANA's code point (what wolfSSL_CTX_set_groups takes); 0 for kNone.
uint16_t TlsGroupCodePoint(TlsGroup group);
// The group for a name as wolfSSL_get_curve_name spells it ("SECP256R1", "X25519", ...); kNone
// for a null or unknown name.
TlsGroup TlsGroupFromWolfSslName(const char* name);

}  // namespace ringgate

#endif  // RINGGATE_TLS_TLS_GROUP_H_
