// The command line's parsers for addresses and address blocks.
#include "ringgate/config/config.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace ringgate {
namespace {

sockaddr_storage Address(const std::string& text) {
  sockaddr_storage storage{};
  if (text.find(':') == std::string::npos) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
    v4->sin_family = AF_INET;
    inet_pton(AF_INET, text.c_str(), &v4->sin_addr);
  } else {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
    v6->sin6_family = AF_INET6;
    inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr);
  }
  return storage;
}

TEST(CidrTest, PeersInsideABlockAreTrustedAndOthersNot) {
  absl::StatusOr<std::vector<Cidr>> blocks = ParseCidrList("10.0.0.0/8,192.0.2.7,2001:db8::/32");
  ASSERT_TRUE(blocks.ok()) << blocks.status();
  EXPECT_TRUE(AddressInCidrs(Address("10.200.3.4"), *blocks));
  EXPECT_FALSE(AddressInCidrs(Address("11.0.0.1"), *blocks));
  EXPECT_TRUE(AddressInCidrs(Address("192.0.2.7"), *blocks)) << "a bare address is a /32";
  EXPECT_FALSE(AddressInCidrs(Address("192.0.2.8"), *blocks));
  EXPECT_TRUE(AddressInCidrs(Address("2001:db8:ffff::1"), *blocks));
  EXPECT_FALSE(AddressInCidrs(Address("2001:db9::1"), *blocks));
  EXPECT_TRUE(AddressInCidrs(Address("::ffff:10.1.2.3"), *blocks))
      << "an IPv4 client on a dual-stack listener arrives v4-mapped";
}

TEST(CidrTest, PrefixesThatAreNotWholeBytesCompareOnlyTheirBits) {
  absl::StatusOr<std::vector<Cidr>> blocks = ParseCidrList("172.16.0.0/12");
  ASSERT_TRUE(blocks.ok());
  EXPECT_TRUE(AddressInCidrs(Address("172.31.255.255"), *blocks));
  EXPECT_FALSE(AddressInCidrs(Address("172.32.0.0"), *blocks));
  EXPECT_FALSE(AddressInCidrs(Address("172.15.255.255"), *blocks));
}

TEST(CidrTest, NoBlocksTrustsNobody) {
  absl::StatusOr<std::vector<Cidr>> none = ParseCidrList("");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(AddressInCidrs(Address("127.0.0.1"), *none));
  absl::StatusOr<std::vector<Cidr>> everyone = ParseCidrList("0.0.0.0/0");
  ASSERT_TRUE(everyone.ok());
  EXPECT_TRUE(AddressInCidrs(Address("203.0.113.9"), *everyone));
  EXPECT_FALSE(AddressInCidrs(Address("2001:db8::1"), *everyone))
      << "an IPv4 block covers no IPv6 peer";
}

TEST(CidrTest, BadBlocksAreRefusedWithTheirText) {
  for (const char* bad :
       {"10.0.0.0/33", "::/129", "10.0.0.0/", "example.com", "10.0.0.0/8,", "1.2.3.4/-1"}) {
    absl::StatusOr<std::vector<Cidr>> blocks = ParseCidrList(bad);
    EXPECT_FALSE(blocks.ok()) << bad;
  }
}

TEST(BackendListTest, ACommaListOfHostPortEachResolved) {
  absl::StatusOr<std::vector<SocketAddress>> list =
      ParseBackendList("127.0.0.1:8001,[::1]:8002,localhost:8003");
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].text, "127.0.0.1:8001");
  EXPECT_EQ((*list)[1].family(), AF_INET6);
  EXPECT_EQ((*list)[2].text, "localhost:8003");
  EXPECT_GT((*list)[2].length, 0u) << "names are resolved now";
  ASSERT_TRUE(ParseBackendList("127.0.0.1:8001").ok());
}

TEST(BackendListTest, BadEntriesAreRefusedAndNamed) {
  auto refused = [](std::string_view text) {
    absl::StatusOr<std::vector<SocketAddress>> list = ParseBackendList(text);
    EXPECT_FALSE(list.ok()) << text;
    return list.ok() ? std::string() : std::string(list.status().message());
  };
  EXPECT_EQ(refused(""), "--backend: no backend given (host:port, comma-separated)");
  EXPECT_EQ(refused("127.0.0.1:1,"), "--backend: an empty entry in the list");
  EXPECT_EQ(refused("127.0.0.1:1,127.0.0.1:99999"),
            "--backend: address '127.0.0.1:99999' has an invalid port '99999'");
  EXPECT_EQ(refused("127.0.0.1:1,[::1]8"), "--backend: address '[::1]8' is not [ipv6]:port");
  // The same backend twice, spelled alike or not.
  EXPECT_EQ(refused("127.0.0.1:1,127.0.0.1:2,127.0.0.1:1"),
            "--backend: '127.0.0.1:1' is the same backend as '127.0.0.1:1'; list each once");
  EXPECT_EQ(refused("127.0.0.1:1,127.000.000.001:1"),
            "--backend: '127.000.000.001:1' is the same backend as '127.0.0.1:1'; list each once");
  std::string many;
  for (size_t i = 0; i <= kMaxBackends; ++i) many += "127.0.0.1:" + std::to_string(1000 + i) + ",";
  many.pop_back();
  EXPECT_EQ(refused(many), "--backend: more than 64 backends");
}

TEST(BackendListTest, AReloadKeepsTheAddressOfANameThatNoLongerResolves) {
  std::vector<SocketAddress> current = *ParseBackendList("127.0.0.1:8001,127.0.0.1:8002");
  // As if this entry had resolved at start-up and does not now (no DNS in a unit test: an entry
  // that cannot resolve at all stands in for it).
  current[1].text = "gone.example:0";
  std::vector<std::string> problems;
  const std::vector<SocketAddress> fresh = ReresolveBackends(current, problems);
  ASSERT_EQ(fresh.size(), 2u);
  EXPECT_EQ(fresh[0].text, "127.0.0.1:8001");
  EXPECT_EQ(fresh[1].length, current[1].length);
  EXPECT_EQ(std::memcmp(&fresh[1].storage, &current[1].storage, current[1].length), 0);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("backend gone.example:0 keeps its address: address 'gone.example:0' "
                             "has an invalid port"),
            std::string::npos)
      << problems[0];
}

TEST(LbPolicyTest, NamesRoundTrip) {
  for (LbPolicy p : {LbPolicy::kP2c, LbPolicy::kRoundRobin, LbPolicy::kIpHash}) {
    EXPECT_EQ(*ParseLbPolicy(LbPolicyName(p)), p);
  }
  EXPECT_FALSE(ParseLbPolicy("P2C").ok());
}

}  // namespace
}  // namespace ringgate
