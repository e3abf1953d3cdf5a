/* user_settings.h
 * wolfSSL's build configuration for ringgate, included by wolfssl/wolfcrypt/settings.h when
 * WOLFSSL_USER_SETTINGS is defined (the library and everything that includes its headers).
 *
 * Derived from wolfSSL 5.9.2's configure.ac with
 *   --enable-tls13 --enable-sni --enable-alpn --enable-session-ticket --enable-aesni
 *   --enable-intelasm --enable-sp --enable-sp-asm --disable-oldtls --enable-curve25519
 *   --enable-mlkem=768 --enable-pqc-hybrids --disable-dh
 * minus the OCSP, system-CA and test knobs a reverse proxy's server side does not use. The same
 * file builds the fallback (5.7.2, scripts/fetch-wolfssl.sh), which has no ML-KEM hybrid groups:
 * subprojects/wolfssl/meson.build defines RINGGATE_WOLFSSL_MLKEM only for a source that has them.
 *
 * Left out as attack surface nothing in ringgate uses: raw RSA (WC_RSA_NO_PADDING), a context
 * that is either client or server (WOLFSSL_EITHER_SIDE), PKCS#12, AES-CTS (HAVE_CTS), and finite
 * field Diffie-Hellman altogether (NO_DH: no FFDHE group offered or accepted, no DHE suites).
 * The OpenSSL compatibility layer (--enable-opensslall/-extra) is left out: ringgate uses only
 * wolfSSL's native API, and the layer embeds a copy of the peer's X.509 certificate in every
 * session (KEEP_PEER_CERT), 3.7 KiB of each connection's 5.5 KiB WOLFSSL object.
 */
#ifndef RINGGATE_WOLFSSL_USER_SETTINGS_H_
#define RINGGATE_WOLFSSL_USER_SETTINGS_H_

/* Platform and threading. */
#define WOLFSSL_X86_64_BUILD
#define HAVE_THREAD_LS
#define ERROR_QUEUE_PER_THREAD
#define HAVE___UINT128_T 1
#define WC_NO_ASYNC_THREADING
#define WOLFSSL_USE_ALIGN
/* Seeds from getrandom(2) rather than opening /dev/urandom for every session: no descriptor is
 * needed, so handshakes still work when the process is at its descriptor limit (EMFILE). */
#define WOLFSSL_GETRANDOM

/* Side-channel hardening. */
#define TFM_TIMING_RESISTANT
#define ECC_TIMING_RESISTANT
#define WC_RSA_BLINDING

/* Assembly speedups: AES-NI with AVX2 AES-GCM, SP ECC/RSA in x86-64 assembly. */
#define WOLFSSL_AESNI
#define USE_INTEL_SPEEDUP
#define HAVE_AESGCM
/* No GHASH table in each AES key (512 bytes per direction per connection): with AES-NI, which
 * every x86-64 server CPU of the last decade has, wolfSSL computes GHASH with PCLMULQDQ and never
 * reads the table. Only a CPU without AES-NI takes the slower bitwise path. */
#define GCM_SMALL
#define WOLFSSL_SP_MATH_ALL
#define WOLFSSL_HAVE_SP_RSA
#define WOLFSSL_HAVE_SP_ECC
#define WOLFSSL_SP_4096
#define WOLFSSL_SP_384
#define WOLFSSL_SP_521
#define WOLFSSL_SP_LARGE_CODE
#define WOLFSSL_SP_X86_64
#define WOLFSSL_SP_ASM
#define WOLFSSL_SP_X86_64_ASM

/* Algorithms. */
#define WOLFSSL_SHA224
#define WOLFSSL_SHA384
#define WOLFSSL_SHA512
#define WOLFSSL_SHA3
#ifdef RINGGATE_WOLFSSL_MLKEM
/* ML-KEM-768, wolfSSL's own implementation (with its AVX2 assembly), only inside the hybrid
 * groups X25519MLKEM768 and SecP256r1MLKEM768: never alone, never 512 or 1024. */
#define WOLFSSL_HAVE_MLKEM
#define WOLFSSL_NO_ML_KEM_512
#define WOLFSSL_NO_ML_KEM_1024
#define WOLFSSL_PQC_HYBRIDS
#define WOLFSSL_TLS_NO_MLKEM_STANDALONE
#define WOLFSSL_SHAKE128
#define WOLFSSL_SHAKE256
#else
#define WOLFSSL_NO_SHAKE128
#define WOLFSSL_NO_SHAKE256
#endif
#define HAVE_HKDF
#define HAVE_ECC
#define HAVE_ECC384
#define HAVE_ECC521
#define TFM_ECC256
#define ECC_SHAMIR
#define HAVE_CURVE25519
#define HAVE_POLY1305
#define HAVE_CHACHA
#define HAVE_HASHDRBG
#define WC_RSA_PSS
#define WOLFSSL_PSS_LONG_SALT
#define WOLFSSL_BASE64_ENCODE
#define NO_DH
#define NO_DSA
#define NO_RC4
#define NO_PSK
#define NO_MD4
#define NO_DES3
#define NO_OLD_TLS

/* TLS features. */
#define WOLFSSL_TLS13
/* RFC 8446 D.4: a dummy ChangeCipherSpec after the ServerHello when the client sent a non-empty
 * legacy_session_id (as browsers and tlsfuzzer do); none when it sent an empty one. */
#define WOLFSSL_TLS13_MIDDLEBOX_COMPAT
/* The largest handshake message accepted, the ClientHello among them (RFC 8446 5.1 lets it span
 * many records): 64 KiB. wolfSSL's default is its certificate chain bound (about 18 KiB), which
 * refused large ClientHellos with HANDSHAKE_SIZE_ERROR (-404). A message in pieces is held in
 * one buffer of its announced size until complete, inside the handshake timeout. */
#define MAX_HANDSHAKE_SZ 65536
#define HAVE_TLS_EXTENSIONS
#define HAVE_SNI
#define HAVE_ALPN
#define HAVE_SUPPORTED_CURVES
#define HAVE_SESSION_TICKET
#define WOLFSSL_TICKET_HAVE_ID
/* WOLFSSL_TICKET_EXTRA_PADDING_SZ stays at its default (32) although both ticket callbacks
 * encrypt in place: it also sets the longest ticket a ClientHello may carry, and a longer one
 * fails the handshake (BAD_TICKET_MSG_SZ) instead of falling back to a full one. At 0, a client
 * holding a 239-270 byte ticket from another server for the same name would be refused. */
#define HAVE_EXTENDED_MASTER
#define HAVE_ENCRYPT_THEN_MAC
#define HAVE_SERVER_RENEGOTIATION_INFO
#define HAVE_EXT_CACHE
#define WOLFSSL_FORCE_CACHE_ON_TICKET
#define WOLFSSL_ENCRYPTED_KEYS
#define WOLFSSL_EXTRA_ALERTS
#define WOLFSSL_CERT_NAME_ALL
#define WOLFSSL_AKID_NAME
#define WOLFSSL_ALWAYS_VERIFY_CB
#define WOLFSSL_VERIFY_CB_ALL_CERTS

#endif /* RINGGATE_WOLFSSL_USER_SETTINGS_H_ */
