// Micro-benchmarks of the per-request building blocks (Google Benchmark). Built with the project,
// never run by the tests: timings belong here, not in unit tests.
//   build/bench/micro/micro_benchmarks [--benchmark_filter=Tls]
#include <benchmark/benchmark.h>
#include <liburing.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "../../tests/unit/tls/test_certificates.h"
#include "ringgate/core/buffer_ring.h"
#include "ringgate/core/user_data.h"
#include "ringgate/diag/metrics.h"
#include "ringgate/http/http_codec.h"
#include "ringgate/tls/tls_context.h"
#include "ringgate/tls/tls_session.h"

namespace ringgate {
namespace {

constexpr std::string_view kTypicalRequest =
    "GET /api/v1/items?page=2 HTTP/1.1\r\n"
    "Host: shop.example\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Connection: keep-alive\r\n"
    "Cookie: session=0123456789abcdef0123456789abcdef\r\n"
    "\r\n";

// One request head through llhttp and the rewrite for the backend, as the relay does it.
void BM_ParseAndForwardRequest(benchmark::State& state) {
  HttpParser parser(HttpParser::Kind::kRequest, HttpLimits{});
  std::string body;
  for (auto _ : state) {
    parser.Execute(kTypicalRequest, body);
    if (!parser.TakeHead()) state.SkipWithError("no head");
    std::string upstream =
        BuildUpstreamRequestHead(parser.head(), ForwardingContext{"192.0.2.1", false, "backend"});
    benchmark::DoNotOptimize(upstream);
    parser.StartNextMessage();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kTypicalRequest.size()));
}
BENCHMARK(BM_ParseAndForwardRequest);

// A connected client/server pair over memory, handshake done.
struct TlsPair {
  TlsPair() {
    const std::string cert = testing::WriteTempFile(testing::kTestCertificatePem);
    const std::string key = testing::WriteTempFile(testing::kTestKeyPem);
    server_ctx = std::make_unique<TlsContext>(*TlsContext::CreateServer(cert, key));
    client_ctx = std::make_unique<TlsContext>(*TlsContext::CreateClient());
    std::remove(cert.c_str());
    std::remove(key.c_str());
    server = std::make_unique<TlsSession>(*server_ctx, true);
    client = std::make_unique<TlsSession>(*client_ctx, false);
    for (int i = 0; i < 10 && !(server->handshake_done() && client->handshake_done()); ++i) {
      client->Handshake();
      server->FeedCiphertext(client->pending_ciphertext());
      client->pending_ciphertext().clear();
      server->Handshake();
      client->FeedCiphertext(server->pending_ciphertext());
      server->pending_ciphertext().clear();
    }
  }
  std::unique_ptr<TlsContext> server_ctx, client_ctx;
  std::unique_ptr<TlsSession> server, client;
};

// 16 KiB of plaintext encrypted by one side and decrypted by the other: one full TLS record
// each way through the in-memory I/O callbacks.
void BM_TlsRecord16KiB(benchmark::State& state) {
  TlsPair pair;
  if (!pair.server->handshake_done()) {
    state.SkipWithError("handshake did not complete");
    return;
  }
  const std::string plain(16384, 'x');
  std::string received;
  for (auto _ : state) {
    pair.server->WritePlaintext(plain);
    pair.client->FeedCiphertext(pair.server->pending_ciphertext());
    pair.server->pending_ciphertext().clear();
    received.clear();
    pair.client->ReadPlaintext(received);
    if (received.size() != plain.size()) state.SkipWithError("short read");
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * plain.size()));
}
BENCHMARK(BM_TlsRecord16KiB);

// One full TLS 1.3 handshake in memory, both sides (ECDSA P-256 certificate), with the client
// offering one group: 0 x25519, 1 X25519MLKEM768, 2 secp256r1. The difference between 0 and 1 is
// what the hybrid costs the two sides together.
void BM_TlsHandshake(benchmark::State& state) {
  const TlsGroup groups[] = {TlsGroup::kX25519, TlsGroup::kX25519MLKEM768, TlsGroup::kSecp256r1};
  const TlsGroup group = groups[state.range(0)];
  if (!TlsGroupAvailable(group)) {
    state.SkipWithError("not in this wolfSSL build");
    return;
  }
  const std::string cert = testing::WriteTempFile(testing::kTestCertificatePem);
  const std::string key = testing::WriteTempFile(testing::kTestKeyPem);
  TlsContext server_ctx = *TlsContext::CreateServer(cert, key);
  TlsContext client_ctx = *TlsContext::CreateClient({group});
  std::remove(cert.c_str());
  std::remove(key.c_str());
  for (auto _ : state) {
    TlsSession server(server_ctx, true);
    TlsSession client(client_ctx, false);
    for (int i = 0; i < 10 && !(server.handshake_done() && client.handshake_done()); ++i) {
      client.Handshake();
      server.FeedCiphertext(client.pending_ciphertext());
      client.pending_ciphertext().clear();
      server.Handshake();
      client.FeedCiphertext(server.pending_ciphertext());
      server.pending_ciphertext().clear();
    }
    if (server.group() != group) state.SkipWithError("another group was negotiated");
  }
  state.SetLabel(std::string(TlsGroupName(group)));
}
BENCHMARK(BM_TlsHandshake)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond);

// A batch of 64 no-op submissions, reaped and dispatched on their decoded tags: the ring's own
// round trip and our per-completion decode, without any socket work.
void BM_CompletionDispatch(benchmark::State& state) {
  io_uring ring;
  if (io_uring_queue_init(256, &ring, 0) != 0) {
    state.SkipWithError("io_uring_queue_init failed");
    return;
  }
  constexpr int kBatch = 64;
  uint64_t per_op[256] = {};
  for (auto _ : state) {
    for (int i = 0; i < kBatch; ++i) {
      io_uring_sqe* sqe = io_uring_get_sqe(&ring);
      io_uring_prep_nop(sqe);
      io_uring_sqe_set_data64(
          sqe, EncodeTag({Op::kClientRecv, static_cast<uint32_t>(i), static_cast<uint32_t>(i)}));
    }
    io_uring_submit_and_wait(&ring, kBatch);
    io_uring_cqe* cqe;
    unsigned head;
    unsigned seen = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      const OpTag tag = DecodeTag(cqe->user_data);
      per_op[static_cast<uint8_t>(tag.op)] += tag.slot;
      ++seen;
    }
    io_uring_cq_advance(&ring, seen);
  }
  benchmark::DoNotOptimize(per_op);
  io_uring_queue_exit(&ring);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatch));
}
BENCHMARK(BM_CompletionDispatch);

// Taking a provided buffer's bytes and handing the buffer back to the kernel's ring.
void BM_BufferRingReturn(benchmark::State& state) {
  io_uring ring;
  if (io_uring_queue_init(8, &ring, 0) != 0) {
    state.SkipWithError("io_uring_queue_init failed");
    return;
  }
  {
    BufferRing buffers;
    if (!buffers.Init(&ring, 0, 1024, 16384).ok()) {
      state.SkipWithError("buffer ring registration failed");
    } else {
      uint16_t bid = 0;
      for (auto _ : state) {
        benchmark::DoNotOptimize(buffers.Data(bid, 512).data());
        buffers.Return(bid);
        bid = static_cast<uint16_t>((bid + 1) & 1023);
      }
      state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
    }
  }
  io_uring_queue_exit(&ring);
}
BENCHMARK(BM_BufferRingReturn);

void BM_CounterAdd(benchmark::State& state) {
  Counter counter;
  for (auto _ : state) counter.Add();
  benchmark::DoNotOptimize(counter.Get());
}
BENCHMARK(BM_CounterAdd);

void BM_HistogramObserve(benchmark::State& state) {
  Histogram histogram({0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5});
  double value = 0.0001;
  for (auto _ : state) {
    histogram.Observe(value);
    value = value < 3 ? value * 1.7 : 0.0001;
  }
  benchmark::DoNotOptimize(histogram.count_at(0));
}
BENCHMARK(BM_HistogramObserve);

}  // namespace
}  // namespace ringgate

BENCHMARK_MAIN();
