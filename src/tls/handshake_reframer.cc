#include "ringgate/tls/handshake_reframer.h"

#include <algorithm>
#include <cstdint>

namespace ringgate {
namespace {

constexpr size_t kRecordHeader = 5;
constexpr size_t kMessageHeader = 4;
constexpr size_t kMaxRecordPayload = 16384;  // 2^14, RFC 8446 5.1
constexpr char kHandshake = 22;

size_t Read16(const char* p) {
  return (static_cast<size_t>(static_cast<uint8_t>(p[0])) << 8) | static_cast<uint8_t>(p[1]);
}
size_t Read24(const char* p) {
  return (static_cast<size_t>(static_cast<uint8_t>(p[0])) << 16) | Read16(p + 1);
}

// `bytes` as handshake records of at most 2^14 bytes each.
void AppendRecords(std::string_view bytes, const char version[2], std::string& out) {
  for (size_t at = 0; at < bytes.size(); at += kMaxRecordPayload) {
    const size_t n = std::min(kMaxRecordPayload, bytes.size() - at);
    const char header[kRecordHeader] = {kHandshake, version[0], version[1],
                                        static_cast<char>(n >> 8), static_cast<char>(n & 0xff)};
    out.append(header, kRecordHeader);
    out.append(bytes.substr(at, n));
  }
}

}  // namespace

void HandshakeReframer::Feed(std::string_view in, std::string& out) {
  if (!active_) {
    out.append(in);
    return;
  }
  records_.append(in);
  size_t at = 0;
  while (active_ && records_.size() - at >= kRecordHeader) {
    const char* record = records_.data() + at;
    const size_t length = Read16(record + 3);
    // Not a handshake record (what follows may be encrypted: not ours to touch), or longer than
    // any record may be (wolfSSL answers record_overflow): passed on as it came.
    if (record[0] != kHandshake || length > kMaxRecordPayload) {
      records_.erase(0, at);
      Stop(out);
      return;
    }
    if (records_.size() - at < kRecordHeader + length) break;
    record_version_[0] = record[1];
    record_version_[1] = record[2];
    messages_.append(record + kRecordHeader, length);
    at += kRecordHeader + length;
    EmitMessages(out);
  }
  records_.erase(0, at);
  if (!active_) {  // stopped by EmitMessages: the rest goes on as it came
    out.append(records_);
    std::string().swap(records_);
  }
}

void HandshakeReframer::EmitMessages(std::string& out) {
  size_t complete = 0;
  while (messages_.size() - complete >= kMessageHeader) {
    const size_t length = Read24(messages_.data() + complete + 1);
    if (length > max_message_) {  // wolfSSL refuses it by its own cap
      AppendRecords(messages_, record_version_, out);
      std::string().swap(messages_);
      active_ = false;
      return;
    }
    if (messages_.size() - complete < kMessageHeader + length) break;
    // Each message starts a record of its own: cut together, a record boundary could fall
    // inside the next message's header, which is what wolfSSL cannot take.
    AppendRecords(std::string_view(messages_).substr(complete, kMessageHeader + length),
                  record_version_, out);
    complete += kMessageHeader + length;
  }
  if (complete == 0) return;
  messages_.erase(0, complete);
  if (messages_.empty()) std::string().swap(messages_);  // a 64 KiB message's capacity goes
}

void HandshakeReframer::Stop(std::string& out) {
  if (!active_) return;
  active_ = false;
  AppendRecords(messages_, record_version_, out);
  out.append(records_);
  std::string().swap(messages_);
  std::string().swap(records_);
}

}  // namespace ringgate
