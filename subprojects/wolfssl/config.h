/* config.h
 * The platform facts wolfSSL's configure script detects on Debian 12 x86-64 (HAVE_CONFIG_H),
 * written down so that the meson build needs no configure step. Build options live in
 * user_settings.h.
 */
#ifndef RINGGATE_WOLFSSL_CONFIG_H_
#define RINGGATE_WOLFSSL_CONFIG_H_
#define HAVE_ARPA_INET_H 1
#define HAVE_ATEXIT 1
#define HAVE_C___ATOMIC 1
#define HAVE_DECL_ATEXIT 1
#define HAVE_DECL_GETADDRINFO 1
#define HAVE_DECL_GETHOSTBYNAME 1
#define HAVE_DECL_GETTIMEOFDAY 1
#define HAVE_DECL_GMTIME_R 1
#define HAVE_DECL_GMTIME_S 0
#define HAVE_DECL_INET_NTOA 1
#define HAVE_DECL_MEMSET 1
#define HAVE_DECL_SOCKET 1
#define HAVE_DECL_STRFTIME 1
#define HAVE_ERRNO_H 1
#define HAVE_FCNTL_H 1
#define HAVE_GETADDRINFO 1
#define HAVE_GETHOSTBYNAME 1
#define HAVE_GETTIMEOFDAY 1
#define HAVE_GMTIME_R 1
#define HAVE_INET_NTOA 1
#define HAVE_INTTYPES_H 1
#define HAVE_LIMITS_H 1
#define HAVE_MEMSET 1
#define HAVE_NETDB_H 1
#define HAVE_NETINET_IN_H 1
#define HAVE_PTHREAD 1
#define HAVE_PTHREAD_PRIO_INHERIT 1
#define HAVE_SOCKET 1
#define HAVE_STDDEF_H 1
#define HAVE_STDINT_H 1
#define HAVE_STDIO_H 1
#define HAVE_STDLIB_H 1
#define HAVE_STRFTIME 1
#define HAVE_STRINGS_H 1
#define HAVE_STRING_H 1
#define HAVE_SYS_IOCTL_H 1
#define HAVE_SYS_SOCKET_H 1
#define HAVE_SYS_STAT_H 1
#define HAVE_SYS_TIME_H 1
#define HAVE_SYS_TYPES_H 1
#define HAVE_SYS_UN_H 1
#define HAVE_TIME_H 1
#define HAVE_UINTPTR_T 1
#define HAVE_UNISTD_H 1
#define SIZEOF_LONG 8
#define SIZEOF_LONG_LONG 8
#define SIZEOF_TIME_T 8
#ifndef __ASSEMBLER__
#include <sys/time.h> /* tls13.c calls gettimeofday without including it on Linux */
#endif
#endif /* RINGGATE_WOLFSSL_CONFIG_H_ */
