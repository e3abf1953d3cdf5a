// wolfssl.h
// The one place that includes wolfSSL's headers, so that every file sees the same build
// settings: ours (subprojects/wolfssl/user_settings.h) or, in the fallback build, the system
// library's options.h.
#ifndef RINGGATE_TLS_WOLFSSL_H_
#define RINGGATE_TLS_WOLFSSL_H_

#ifdef RINGGATE_SYSTEM_WOLFSSL
#include <wolfssl/options.h>
#endif
#include <wolfssl/error-ssl.h>  // SOCKET_PEER_CLOSED_E; ssl.h brings it only with the OpenSSL layer
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/aes.h>     // session ticket encryption
#include <wolfssl/wolfcrypt/random.h>  // wc_FreeRng (TlsSession::ReleaseRandomGenerator)
#include <wolfssl/wolfcrypt/settings.h>

#endif  // RINGGATE_TLS_WOLFSSL_H_
