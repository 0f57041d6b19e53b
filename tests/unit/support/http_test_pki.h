// Throwaway certificates for the HTTP/TLS unit tests, made with OpenSSL at
// test time (EC P-256), and an in-memory TLS handshake (a BIO pair, no
// sockets).
#pragma once

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace tcpstate::testing {

struct Pki {
  std::shared_ptr<EVP_PKEY> key;
  std::shared_ptr<X509> cert;
  std::string key_pem;
  std::string cert_pem;
};

inline std::string ToPem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  return out;
}

inline std::string ToPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  return out;
}

// issuer null: self-signed. extensions: {"subjectAltName", "IP:127.0.0.1"}...
inline Pki MakeCert(const std::string& common_name, const Pki* issuer,
                    const std::vector<std::pair<std::string, std::string>>& extensions) {
  Pki out;
  out.key.reset(EVP_EC_gen("P-256"), EVP_PKEY_free);
  out.cert.reset(X509_new(), X509_free);
  X509* cert = out.cert.get();
  X509_set_version(cert, 2);
  static long serial = 1;
  ASN1_INTEGER_set(X509_get_serialNumber(cert), ++serial);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, out.key.get());
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509* issuer_cert = issuer ? issuer->cert.get() : cert;
  X509_set_issuer_name(cert, X509_get_subject_name(issuer_cert));
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer_cert, cert, nullptr, nullptr, 0);
  for (const auto& [ext_name, value] : extensions) {
    X509_EXTENSION* ext = X509V3_EXT_conf(nullptr, &ctx, ext_name.c_str(), value.c_str());
    if (ext != nullptr) {
      X509_add_ext(cert, ext, -1);
      X509_EXTENSION_free(ext);
    }
  }
  X509_sign(cert, issuer ? issuer->key.get() : out.key.get(), EVP_sha256());
  out.key_pem = ToPem(out.key.get());
  out.cert_pem = ToPem(cert);
  return out;
}

inline Pki MakeCa(const std::string& name) {
  return MakeCert(
      name, nullptr,
      {{"basicConstraints", "critical,CA:TRUE"}, {"keyUsage", "critical,keyCertSign,cRLSign"}});
}

inline Pki MakeServer(const Pki& ca, const std::string& name = "exporter") {
  return MakeCert(
      name, &ca,
      {{"subjectAltName", "IP:127.0.0.1,DNS:localhost"}, {"extendedKeyUsage", "serverAuth"}});
}

inline Pki MakeClient(const Pki* ca, const std::string& name, const std::string& san) {
  std::vector<std::pair<std::string, std::string>> ext = {{"extendedKeyUsage", "clientAuth"}};
  if (!san.empty()) ext.emplace_back("subjectAltName", san);
  return MakeCert(name, ca, ext);
}

inline void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

// A fresh directory under $TMPDIR, removed with its files by the destructor.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base ? base : "/tmp") + "/tcpstate_http_test.XXXXXX";
    path_ = mkdtemp(tmpl.data()) ? tmpl : std::string();
  }
  ~TempDir() {
    if (!path_.empty()) std::system(("rm -rf '" + path_ + "'").c_str());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct HandshakeResult {
  bool client_ok = false;
  bool server_ok = false;
  std::string version;         // negotiated, e.g. "TLSv1.3"
  std::string cipher;          // OpenSSL name
  std::string server_cert_cn;  // CN of the certificate the server presented
  std::string error;
};

// A client context that trusts `ca` (and checks the IP 127.0.0.1), with an
// optional client certificate.
inline std::shared_ptr<SSL_CTX> ClientContext(const Pki* ca, const Pki* client_cert = nullptr,
                                              int max_version = 0) {
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  if (ca != nullptr) {
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.get()), ca->cert.get());
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  }
  if (client_cert != nullptr) {
    SSL_CTX_use_certificate(ctx.get(), client_cert->cert.get());
    SSL_CTX_use_PrivateKey(ctx.get(), client_cert->key.get());
  }
  if (max_version != 0) SSL_CTX_set_max_proto_version(ctx.get(), max_version);
  return ctx;
}

inline HandshakeResult Handshake(SSL_CTX* server_ctx, SSL_CTX* client_ctx) {
  HandshakeResult result;
  SSL* server = SSL_new(server_ctx);
  SSL* client = SSL_new(client_ctx);
  X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(client), "127.0.0.1");
  BIO* server_bio = nullptr;
  BIO* client_bio = nullptr;
  BIO_new_bio_pair(&server_bio, 0, &client_bio, 0);
  SSL_set_bio(server, server_bio, server_bio);
  SSL_set_bio(client, client_bio, client_bio);
  SSL_set_accept_state(server);
  SSL_set_connect_state(client);
  bool client_failed = false;
  bool server_failed = false;
  for (int round = 0; round < 50; ++round) {
    if (!result.client_ok && !client_failed) {
      const int rc = SSL_do_handshake(client);
      if (rc == 1) {
        result.client_ok = true;
      } else {
        const int err = SSL_get_error(client, rc);
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) client_failed = true;
      }
    }
    if (!result.server_ok && !server_failed) {
      const int rc = SSL_do_handshake(server);
      if (rc == 1) {
        result.server_ok = true;
      } else {
        const int err = SSL_get_error(server, rc);
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) server_failed = true;
      }
    }
    if ((result.client_ok || client_failed) && (result.server_ok || server_failed)) break;
  }
  // TLS 1.3: the client is done before the server has checked the client's
  // certificate; a read makes the client see the server's verdict.
  if (result.client_ok && result.server_ok) {
    char byte;
    SSL_write(server, "x", 1);
    if (SSL_read(client, &byte, 1) != 1) result.client_ok = false;
  }
  char buf[256];
  const unsigned long err = ERR_peek_last_error();
  if (err != 0) {
    ERR_error_string_n(err, buf, sizeof(buf));
    result.error = buf;
  }
  ERR_clear_error();
  result.version = SSL_get_version(server);
  if (const SSL_CIPHER* c = SSL_get_current_cipher(server)) result.cipher = SSL_CIPHER_get_name(c);
  if (X509* peer = SSL_get1_peer_certificate(client)) {
    char cn[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof(cn));
    result.server_cert_cn = cn;
    X509_free(peer);
  }
  SSL_free(server);
  SSL_free(client);
  return result;
}

}  // namespace tcpstate::testing
