#include "ringgate/tls/tls_group.h"

#include <algorithm>
#include <array>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "ringgate/tls/wolfssl.h"

namespace ringgate {
namespace {

struct GroupInfo {
  TlsGroup group;
  uint16_t code_point;         // IANA's (wolfSSL's WOLFSSL_ECC_* and WOLFSSL_*MLKEM* values)
  std::string_view name;       // IANA's, as flags, logs and metrics spell it
  std::string_view alias;      // also accepted by --tls-groups (empty: none)
  std::string_view wolf_name;  // wolfSSL_get_curve_name's spelling
};
constexpr std::array<GroupInfo, kTlsGroupLabels - 1> kGroups = {{
    {TlsGroup::kX25519MLKEM768, 0x11EC, "X25519MLKEM768", "", "X25519MLKEM768"},
    {TlsGroup::kSecP256r1MLKEM768, 0x11EB, "SecP256r1MLKEM768", "", "SecP256r1MLKEM768"},
    {TlsGroup::kX25519, 0x001D, "x25519", "", "X25519"},
    {TlsGroup::kSecp256r1, 0x0017, "secp256r1", "P-256", "SECP256R1"},
    {TlsGroup::kSecp384r1, 0x0018, "secp384r1", "P-384", "SECP384R1"},
}};

// absl here predates its std::string_view support: text goes to absl as std::string.
std::string Str(std::string_view text) { return std::string(text); }

bool SameIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (absl::ascii_tolower(static_cast<unsigned char>(a[i])) !=
        absl::ascii_tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string_view TlsGroupName(TlsGroup group) {
  for (const GroupInfo& g : kGroups) {
    if (g.group == group) return g.name;
  }
  return "none";
}

std::string TlsGroupList(const std::vector<TlsGroup>& groups) {
  std::string list;
  for (TlsGroup g : groups) absl::StrAppend(&list, list.empty() ? "" : ":", Str(TlsGroupName(g)));
  return list;
}

bool TlsGroupAvailable(TlsGroup group) {
  switch (group) {
    case TlsGroup::kX25519MLKEM768:
    case TlsGroup::kSecP256r1MLKEM768:
#if defined(WOLFSSL_HAVE_MLKEM) && defined(WOLFSSL_PQC_HYBRIDS) && !defined(WOLFSSL_NO_ML_KEM_768)
      return true;
#else
      return false;
#endif
    case TlsGroup::kX25519:
    case TlsGroup::kSecp256r1:
    case TlsGroup::kSecp384r1:
      return true;
    case TlsGroup::kNone:
      return false;
  }
  return false;
}

std::vector<TlsGroup> DefaultTlsGroups() {
  std::vector<TlsGroup> groups;
  for (TlsGroup g :
       {TlsGroup::kX25519MLKEM768, TlsGroup::kX25519, TlsGroup::kSecp256r1, TlsGroup::kSecp384r1}) {
    if (TlsGroupAvailable(g)) groups.push_back(g);
  }
  return groups;
}

absl::StatusOr<std::vector<TlsGroup>> ParseTlsGroups(std::string_view list) {
  std::string known;
  for (const GroupInfo& g : kGroups) {
    if (TlsGroupAvailable(g.group)) absl::StrAppend(&known, known.empty() ? "" : ", ", Str(g.name));
  }
  std::vector<TlsGroup> groups;
  for (size_t start = 0; start <= list.size();) {
    size_t end = list.find(':', start);
    if (end == std::string_view::npos) end = list.size();
    const std::string entry(list.substr(start, end - start));
    start = end + 1;
    if (entry.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--tls-groups: empty entry in '", Str(list), "' (names: ", known, ")"));
    }
    const GroupInfo* found = nullptr;
    for (const GroupInfo& g : kGroups) {
      if (SameIgnoringCase(entry, g.name) ||
          (!g.alias.empty() && SameIgnoringCase(entry, g.alias))) {
        found = &g;
      }
    }
    if (found == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("--tls-groups: unknown group '", entry, "' (names: ", known, ")"));
    }
    if (!TlsGroupAvailable(found->group)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--tls-groups: ", Str(found->name),
          " is not in this build's wolfSSL (the fallback version has no ML-KEM; names: ", known,
          ")"));
    }
    if (std::find(groups.begin(), groups.end(), found->group) != groups.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--tls-groups: ", Str(found->name), " is listed twice"));
    }
    groups.push_back(found->group);
  }
  return groups;
}

uint16_t TlsGroupCodePoint(TlsGroup group) {
  for (const GroupInfo& g : kGroups) {
    if (g.group == group) return g.code_point;
  }
  return 0;
}

TlsGroup TlsGroupFromWolfSslName(const char* name) {
  if (name == nullptr) return TlsGroup::kNone;
  for (const GroupInfo& g : kGroups) {
    if (g.wolf_name == name) return g.group;
  }
  return TlsGroup::kNone;
}

}  // namespace ringgate
