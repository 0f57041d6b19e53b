// Makes civetweb's TLS work with Debian 12's packages.
//
// Debian's civetweb 1.15 is built to load OpenSSL at run time: it dlopen()s
// "libssl.so" and "libcrypto.so" (unversioned names that only libssl-dev
// installs) and looks up every function it uses by name, including
// SSL_get_peer_certificate, which OpenSSL 3 no longer exports (it became a
// macro for SSL_get1_peer_certificate). So with Debian's libssl3, and even
// with libssl-dev installed, mg_init_library(MG_FEATURES_TLS) fails, and a
// server started without it crashes on its first TLS connection (a null
// function pointer).
//
// The exporter links libssl.so.3 and libcrypto.so.3 itself (it configures the
// TLS context through them, see tls_context.h). civetweb_openssl.cpp defines
//   * SSL_get_peer_certificate, forwarding to SSL_get1_peer_certificate (the
//     same reference-counting semantics), exported from the executable with
//     the linker option --export-dynamic-symbol (daemon/CMakeLists.txt);
//   * dlopen, which for exactly the names "libssl.so" and "libcrypto.so"
//     returns the main program's handle, whose global scope holds the linked
//     libssl.so.3, libcrypto.so.3 and that function, and otherwise forwards
//     to the C library's dlopen unchanged.
// civetweb's dlsym() calls then find everything in the libraries the process
// already uses; no -dev package is needed at run time.
#pragma once

#include "common/result.h"

namespace tcpstate {

// Initialises civetweb's TLS support once per process (later calls return
// the first result). Fails with a clear message when civetweb cannot use
// OpenSSL; then no TLS listener may be started.
Status EnableCivetwebTls();

}  // namespace tcpstate
