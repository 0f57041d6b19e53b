#include "http/civetweb_openssl.h"

#include <civetweb.h>
#include <dlfcn.h>

#include <cstring>

// Deliberately no <openssl/ssl.h> here: in OpenSSL 3 it defines
// SSL_get_peer_certificate as a macro.
extern "C" {

void* SSL_get1_peer_certificate(const void* ssl);

// For civetweb's dlsym(); see civetweb_openssl.h.
__attribute__((visibility("default"))) void* SSL_get_peer_certificate(const void* ssl) {
  return SSL_get1_peer_certificate(ssl);
}

// Interposes the C library's dlopen for the whole process (the executable
// comes first in symbol lookup); see civetweb_openssl.h.
__attribute__((visibility("default"))) void* dlopen(const char* file, int mode) noexcept {
  using DlopenFn = void* (*)(const char*, int);
  static const DlopenFn next = reinterpret_cast<DlopenFn>(dlsym(RTLD_NEXT, "dlopen"));
  if (next == nullptr) return nullptr;
  if (file != nullptr &&
      (std::strcmp(file, "libssl.so") == 0 || std::strcmp(file, "libcrypto.so") == 0)) {
    return next(nullptr, mode);
  }
  return next(file, mode);
}

}  // extern "C"

namespace tcpstate {

Status EnableCivetwebTls() {
  static const Status status = []() -> Status {
    if (mg_check_feature(MG_FEATURES_TLS) == 0) {
      return Error{ENOTSUP, "this civetweb library was built without TLS support"};
    }
    // Never undone (mg_exit_library), so starting and stopping servers does
    // not unload OpenSSL under a later one.
    if ((mg_init_library(MG_FEATURES_TLS) & MG_FEATURES_TLS) == 0) {
      return Error{ENOTSUP,
                   "civetweb cannot use OpenSSL (it looks for libssl.so/libcrypto.so and "
                   "SSL_get_peer_certificate; was the exporter linked without "
                   "--export-dynamic-symbol=SSL_get_peer_certificate?)"};
    }
    return OkStatus();
  }();
  return status;
}

}  // namespace tcpstate
