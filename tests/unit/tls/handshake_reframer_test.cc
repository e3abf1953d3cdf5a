#include "ringgate/tls/handshake_reframer.h"

#include <gtest/gtest.h>

#include <string>

namespace ringgate {
namespace {

std::string Record(char type, const std::string& payload) {
  return std::string{type, '\x03', '\x01', static_cast<char>(payload.size() >> 8),
                     static_cast<char>(payload.size() & 0xff)} +
         payload;
}

// A handshake message: type 1 (ClientHello), 24-bit length, body.
std::string Message(size_t body_bytes) {
  std::string body(body_bytes, 'h');
  return std::string{'\x01', static_cast<char>(body_bytes >> 16),
                     static_cast<char>((body_bytes >> 8) & 0xff),
                     static_cast<char>(body_bytes & 0xff)} +
         body;
}

TEST(HandshakeReframerTest, OneByteRecordsBecomeOneRecordOnceTheMessageIsWhole) {
  const std::string message = Message(300);
  HandshakeReframer reframer(64 * 1024);
  std::string out;
  for (size_t i = 0; i < message.size(); ++i) {
    reframer.Feed(Record(22, message.substr(i, 1)), out);
    if (i + 1 < message.size()) {
      EXPECT_TRUE(out.empty()) << i;
    }
  }
  EXPECT_EQ(out, Record(22, message));
  EXPECT_TRUE(reframer.active());
  EXPECT_EQ(reframer.held_bytes(), 0u);
}

TEST(HandshakeReframerTest, ABigMessageLeavesInRecordsOf16KiBAndInputMayArriveInPieces) {
  const std::string message = Message(40000);  // 40,004 bytes: 16384 + 16384 + 7236
  std::string in;
  for (size_t at = 0; at < message.size(); at += 1000) in += Record(22, message.substr(at, 1000));
  HandshakeReframer reframer(64 * 1024);
  std::string out;
  for (size_t at = 0; at < in.size(); at += 777) reframer.Feed(in.substr(at, 777), out);
  EXPECT_EQ(out, Record(22, message.substr(0, 16384)) + Record(22, message.substr(16384, 16384)) +
                     Record(22, message.substr(32768)));
}

// Two messages completed by one record: the second starts a record of its own. Cut together
// every 16 KiB, the second one's 4-byte header would straddle two records (16,382 + 4 bytes
// before it), which wolfSSL cannot parse.
TEST(HandshakeReframerTest, EveryMessageStartsARecordOfItsOwn) {
  const std::string first = Message(16378);  // 16,382 bytes
  const std::string second = Message(100);
  const std::string both = first + second;
  HandshakeReframer reframer(64 * 1024);
  std::string out;
  reframer.Feed(Record(22, both.substr(0, 10000)) + Record(22, both.substr(10000)), out);
  EXPECT_EQ(out, Record(22, first) + Record(22, second));
  EXPECT_EQ(reframer.held_bytes(), 0u);
}

TEST(HandshakeReframerTest, StopsAtTheFirstRecordThatIsNotAHandshakeRecord) {
  const std::string message = Message(10);
  const std::string ccs = Record(20, "\x01");
  const std::string later = Record(22, "encrypted");  // TLS 1.2's Finished after a CCS
  HandshakeReframer reframer(64 * 1024);
  std::string out;
  reframer.Feed(Record(22, message.substr(0, 2)) + Record(22, message.substr(2)) + ccs + later,
                out);
  EXPECT_EQ(out, Record(22, message) + ccs + later);
  EXPECT_FALSE(reframer.active());
  reframer.Feed("anything", out);
  EXPECT_EQ(out, Record(22, message) + ccs + later + "anything");
}

TEST(HandshakeReframerTest, AMessageOverTheCapIsPassedOnForWolfSslToRefuse) {
  HandshakeReframer reframer(1000);
  std::string out;
  const std::string start = Message(5000).substr(0, 100);
  reframer.Feed(Record(22, start), out);
  EXPECT_FALSE(reframer.active());
  EXPECT_EQ(out, Record(22, start));
}

TEST(HandshakeReframerTest, StopHandsOnAPartialMessageAndAPartialRecord) {
  HandshakeReframer reframer(64 * 1024);
  std::string out;
  const std::string message = Message(100);
  const std::string second = Record(22, message.substr(50));
  reframer.Feed(Record(22, message.substr(0, 50)) + second.substr(0, 3), out);
  EXPECT_TRUE(out.empty());
  reframer.Stop(out);
  EXPECT_EQ(out, Record(22, message.substr(0, 50)) + second.substr(0, 3));
}

}  // namespace
}  // namespace ringgate
