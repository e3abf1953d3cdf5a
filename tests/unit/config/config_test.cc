// The command line's parsers for addresses and address blocks.
#include "ringgate/config/config.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <string>

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

}  // namespace
}  // namespace ringgate
