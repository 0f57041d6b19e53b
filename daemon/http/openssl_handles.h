// Move-only owners of OpenSSL objects: each frees its object with the
// matching OpenSSL function on every path out, so no code frees by hand.
// An object handed to OpenSSL with ownership (sk_X509_push,
// SSL_set_client_CA_list) is release()d only once OpenSSL has taken it.
#pragma once

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace tcpstate {

// Calls `Free` on the object (OpenSSL's *_free functions accept nullptr).
template <auto Free>
struct OpenSslFree {
  template <typename T>
  void operator()(T* object) const {
    Free(object);
  }
};

using UniqueBio = std::unique_ptr<BIO, OpenSslFree<BIO_free>>;
using UniqueEvpMdCtx = std::unique_ptr<EVP_MD_CTX, OpenSslFree<EVP_MD_CTX_free>>;
using UniqueEvpPkey = std::unique_ptr<EVP_PKEY, OpenSslFree<EVP_PKEY_free>>;
using UniqueGeneralNames = std::unique_ptr<GENERAL_NAMES, OpenSslFree<GENERAL_NAMES_free>>;
using UniqueSslCtx = std::unique_ptr<SSL_CTX, OpenSslFree<SSL_CTX_free>>;
using UniqueX509 = std::unique_ptr<X509, OpenSslFree<X509_free>>;
using UniqueX509Name = std::unique_ptr<X509_NAME, OpenSslFree<X509_NAME_free>>;
using UniqueX509Store = std::unique_ptr<X509_STORE, OpenSslFree<X509_STORE_free>>;

// Stacks own their elements: freed with them.
struct X509StackFree {
  void operator()(STACK_OF(X509) * stack) const { sk_X509_pop_free(stack, X509_free); }
};
using UniqueX509Stack = std::unique_ptr<STACK_OF(X509), X509StackFree>;

struct X509NameStackFree {
  void operator()(STACK_OF(X509_NAME) * stack) const {
    sk_X509_NAME_pop_free(stack, X509_NAME_free);
  }
};
using UniqueX509NameStack = std::unique_ptr<STACK_OF(X509_NAME), X509NameStackFree>;

}  // namespace tcpstate
