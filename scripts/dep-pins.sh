# Sourced by scripts/fetch-deps.sh (which fetches these) and scripts/check-deps.sh (which says
# when one has left Debian's archive or fallen behind): the pinned liburing and llhttp, one
# record each, so that a pin is changed in one place. wolfSSL's pin lives in fetch-wolfssl.sh.
#
# A record: the Debian package, the pinned version, whether it is a source package (unpacked with
# dpkg-source, Debian's patches applied) or a binary one (its files taken as they are), the
# suite it was pinned from, the folder it is unpacked into, and the sha256 of every file fetched.

# liburing: trixie's source package, built by subprojects/liburing/meson.build (no configure).
# Trixie is Debian's stable release, so this pin stays in the archive for years; sid has newer.
liburing_package=liburing
liburing_version=2.9-1
liburing_kind=source
liburing_suite=trixie
liburing_dest=subprojects/liburing/upstream
declare -A liburing_sha256=(
  ["liburing_2.9-1.dsc"]="fba5e3711b9aa0b39fe144ded788617acac76648438b2b51586354efcc30f680"
  ["liburing_2.9.orig.tar.gz"]="57e9b36e4ac1e46b8e0351dfb1694dc59638fc25e384b4ba36d87b800b16db1a"
  ["liburing_2.9-1.debian.tar.xz"]="9faf814213721f6844a49c8e7bb376003010dad5e81dcfe6857d5a50af0b1674"
)

# llhttp: the parser is C that llparse generates from TypeScript, and Debian's llhttp source
# package holds only the TypeScript (regenerating needs node and four more source tarballs). Its
# binary package libllhttp-source carries the generated C (/usr/src/llhttp), built by
# subprojects/llhttp/meson.build. Only sid has it: trixie's llhttp 9.2 comes from node-undici and
# ships a compiled library without sources. When sid moves on, check-deps.sh fails and the pin
# moves to what sid then has (or to forky's, once forky is stable).
llhttp_package=libllhttp-source
llhttp_version=9.4.3+~cs12.11.9-2
llhttp_kind=binary
llhttp_suite=sid
llhttp_dest=subprojects/llhttp/upstream
llhttp_member=usr/src/llhttp  # the folder of the package that becomes $llhttp_dest
declare -A llhttp_sha256=(
  ["libllhttp-source_9.4.3+~cs12.11.9-2_all.deb"]="8a70cbc1d310f51a7d5594d258eeb6ef57db6fbc1c58065407c203a03abadf2e"
)

pinned_deps=(liburing llhttp)
