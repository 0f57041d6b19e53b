#include "http/tls_context.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <fstream>
#include <iterator>

#include "http/openssl_handles.h"

namespace tcpstate {

struct TlsMaterial {
  UniqueX509 leaf;
  UniqueX509Stack chain;  // intermediates after the leaf in the PEM
  UniqueEvpPkey key;
  UniqueX509Store ca_store;      // client CAs, when configured
  UniqueX509NameStack ca_names;  // their subjects, sent to clients
};

namespace {

constexpr const char* kPrefix = "tls_server_config.";

// The newest OpenSSL error, or `fallback`; empties the error queue.
std::string OpenSslError(const std::string& fallback) {
  unsigned long code = 0;
  unsigned long last = 0;
  while ((code = ERR_get_error()) != 0) last = code;
  if (last == 0) return fallback;
  char buf[256];
  ERR_error_string_n(last, buf, sizeof(buf));
  return buf;
}

Result<std::string> ReadWholeFile(const std::string& key, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoError(errno, kPrefix + key + ": cannot read " + path);
  std::string content((std::istreambuf_iterator<char>(in)), {});
  if (in.bad()) return ErrnoError(errno, kPrefix + key + ": cannot read " + path);
  return content;
}

// The PEM text of a file-or-inline pair and the key name to blame.
struct PemSource {
  std::string key;
  std::string what;  // "cert_file (/etc/x.crt)" or "cert"
  std::string pem;
};

Result<PemSource> Source(const std::string& file_key, const std::string& file,
                         const std::string& inline_key, const std::string& inline_pem) {
  if (!file.empty()) {
    auto content = ReadWholeFile(file_key, file);
    if (!content.ok()) return content.error();
    return PemSource{file_key, file_key + " (" + file + ")", std::move(*content)};
  }
  return PemSource{inline_key, inline_key, inline_pem};
}

Result<std::vector<UniqueX509>> ParseCertificates(const PemSource& source) {
  const UniqueBio bio(BIO_new_mem_buf(source.pem.data(), static_cast<int>(source.pem.size())));
  std::vector<UniqueX509> certs;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    certs.emplace_back(cert);
  }
  const unsigned long err = ERR_peek_last_error();
  // Reading stops with "no start line" at the end of the input: not an error.
  const bool clean_end =
      err == 0 || (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE);
  if (!clean_end || certs.empty()) {
    return MakeError(ErrorKind::kInvalid, kPrefix + source.key + ": " + source.what +
                                              " holds no valid PEM certificate: " +
                                              OpenSslError("no CERTIFICATE block"));
  }
  ERR_clear_error();
  return certs;
}

int NoPassphrase(char*, int, int, void*) { return 0; }

Result<std::shared_ptr<TlsMaterial>> LoadMaterial(const TlsServerConfig& config) {
  ERR_clear_error();
  auto material = std::make_shared<TlsMaterial>();

  auto cert_source = Source("cert_file", config.cert_file, "cert", config.cert_pem);
  if (!cert_source.ok()) return cert_source.error();
  auto certs = ParseCertificates(*cert_source);
  if (!certs.ok()) return certs.error();
  material->leaf = std::move((*certs)[0]);
  material->chain.reset(sk_X509_new_null());
  for (size_t i = 1; i < certs->size(); ++i) {
    // The stack owns what it holds; a certificate it did not take is freed here.
    if (sk_X509_push(material->chain.get(), (*certs)[i].get()) > 0) {
      static_cast<void>((*certs)[i].release());
    }
  }

  auto key_source = Source("key_file", config.key_file, "key", config.key_pem);
  if (!key_source.ok()) return key_source.error();
  const UniqueBio bio(
      BIO_new_mem_buf(key_source->pem.data(), static_cast<int>(key_source->pem.size())));
  material->key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  if (material->key == nullptr) {
    return MakeError(ErrorKind::kInvalid,
                     kPrefix + key_source->key + ": " + key_source->what +
                         " holds no usable PEM private key (encrypted keys are not "
                         "supported): " +
                         OpenSslError("no PRIVATE KEY block"));
  }
  if (X509_check_private_key(material->leaf.get(), material->key.get()) != 1) {
    ERR_clear_error();
    return MakeError(ErrorKind::kInvalid,
                     kPrefix + key_source->key + ": the private key in " + key_source->what +
                         " does not belong to the certificate in " + cert_source->what);
  }

  if (!config.client_ca_file.empty() || !config.client_ca_pem.empty()) {
    auto ca_source =
        Source("client_ca_file", config.client_ca_file, "client_ca", config.client_ca_pem);
    if (!ca_source.ok()) return ca_source.error();
    auto cas = ParseCertificates(*ca_source);
    if (!cas.ok()) return cas.error();
    material->ca_store.reset(X509_STORE_new());
    material->ca_names.reset(sk_X509_NAME_new_null());
    for (const UniqueX509& ca : *cas) {
      X509_STORE_add_cert(material->ca_store.get(), ca.get());  // takes its own reference
      UniqueX509Name name(X509_NAME_dup(X509_get_subject_name(ca.get())));
      if (name != nullptr && sk_X509_NAME_push(material->ca_names.get(), name.get()) > 0) {
        static_cast<void>(name.release());  // owned by the stack
      }
    }
    ERR_clear_error();
  }
  return material;
}

// dev, inode, size and mtime of every configured file: changes when a file is
// rewritten or replaced (Kubernetes swaps a symlink to a new directory).
std::string FileStamp(const TlsServerConfig& config) {
  std::string stamp;
  for (const std::string* path : {&config.cert_file, &config.key_file, &config.client_ca_file}) {
    if (path->empty()) continue;
    struct stat st {};
    if (stat(path->c_str(), &st) != 0) {
      stamp += "error " + std::to_string(errno) + ";";
      continue;
    }
    stamp += std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
             std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
             std::to_string(st.st_mtim.tv_nsec) + ";";
  }
  return stamp;
}

int ProtocolVersion(TlsVersion version) {
  switch (version) {
    case TlsVersion::kTls10:
      return TLS1_VERSION;
    case TlsVersion::kTls11:
      return TLS1_1_VERSION;
    case TlsVersion::kTls12:
      return TLS1_2_VERSION;
    case TlsVersion::kTls13:
      return TLS1_3_VERSION;
  }
  return TLS1_2_VERSION;
}

bool VerifiesChain(ClientAuth auth) {
  return auth == ClientAuth::kVerifyClientCertIfGiven ||
         auth == ClientAuth::kRequireAndVerifyClientCert;
}

std::string AsnString(const ASN1_STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

// The SANs of a certificate as Go prints them (DNS names, e-mail addresses,
// IP addresses, URIs).
std::vector<std::string> SubjectAltNames(X509* cert) {
  std::vector<std::string> out;
  const UniqueGeneralNames names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (names == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    switch (name->type) {
      case GEN_DNS:
        out.push_back(AsnString(name->d.dNSName));
        break;
      case GEN_EMAIL:
        out.push_back(AsnString(name->d.rfc822Name));
        break;
      case GEN_URI:
        out.push_back(AsnString(name->d.uniformResourceIdentifier));
        break;
      case GEN_IPADD: {
        const std::string raw = AsnString(name->d.iPAddress);
        char text[INET6_ADDRSTRLEN] = {};
        static constexpr unsigned char kV4Mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (raw.size() == 4) {
          inet_ntop(AF_INET, raw.data(), text, sizeof(text));
        } else if (raw.size() == 16 &&
                   std::equal(kV4Mapped, kV4Mapped + 12, raw.begin(), [](unsigned char a, char b) {
                     return a == static_cast<unsigned char>(b);
                   })) {
          inet_ntop(AF_INET, raw.data() + 12, text, sizeof(text));  // Go prints these as IPv4
        } else if (raw.size() == 16) {
          inet_ntop(AF_INET6, raw.data(), text, sizeof(text));
        }
        if (text[0] != '\0') out.emplace_back(text);
        break;
      }
      default:
        break;
    }
  }
  return out;
}

struct CipherName {
  const char* go;
  const char* openssl;  // "" for TLS 1.3 suites
};

// What Go's tls.CipherSuites() offers (the names exporter-toolkit accepts).
constexpr CipherName kCiphers[] = {
    {"TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"},
    {"TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA"},
    {"TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256"},
    {"TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"},
    {"TLS_AES_128_GCM_SHA256", ""},
    {"TLS_AES_256_GCM_SHA384", ""},
    {"TLS_CHACHA20_POLY1305_SHA256", ""},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"},
};

}  // namespace

std::optional<std::string> OpenSslCipherName(std::string_view go_name) {
  for (const auto& c : kCiphers) {
    if (go_name == c.go) return std::string(c.openssl);
  }
  return std::nullopt;
}

std::optional<std::string> OpenSslGroupName(std::string_view go_name) {
  if (go_name == "CurveP256") return "P-256";
  if (go_name == "CurveP384") return "P-384";
  if (go_name == "CurveP521") return "P-521";
  if (go_name == "X25519") return "X25519";
  return std::nullopt;
}

Result<std::unique_ptr<TlsContext>> TlsContext::Create(const TlsServerConfig& config) {
  std::unique_ptr<TlsContext> context(new TlsContext(config));
  context->stamp_ = FileStamp(config);
  auto material = LoadMaterial(config);
  if (!material.ok()) return material.error();
  context->material_ = std::move(*material);
  context->next_check_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  return context;
}

TlsContext::~TlsContext() = default;

void TlsContext::CheckFilesOnNextHandshake() {
  std::lock_guard lock(mu_);
  next_check_ = std::chrono::steady_clock::time_point::min();
}

std::shared_ptr<const TlsMaterial> TlsContext::Current() {
  std::lock_guard lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (now < next_check_) return material_;
  next_check_ = now + std::chrono::seconds(1);
  std::string stamp = FileStamp(config_);
  if (stamp == stamp_) return material_;
  // Remembered whether or not the new files load: a broken state is logged
  // once, and retried when the files change again.
  stamp_ = std::move(stamp);
  auto loaded = LoadMaterial(config_);
  if (!loaded.ok()) {
    spdlog::warn(
        "TLS files changed but cannot be used, still serving the previous "
        "certificate: {}",
        loaded.error().message);
    return material_;
  }
  material_ = std::move(*loaded);
  reloads_.fetch_add(1);
  spdlog::info("TLS certificate, key and client CA reloaded from {}",
               config_.cert_file.empty() ? "the web configuration" : config_.cert_file);
  return material_;
}

int TlsContext::CertCallback(SSL* ssl, void* arg) {
  auto* self = static_cast<TlsContext*>(arg);
  const auto material = self->Current();
  if (SSL_use_cert_and_key(ssl, material->leaf.get(), material->key.get(), material->chain.get(),
                           1) != 1) {
    return 0;
  }
  if (material->ca_store != nullptr) {
    SSL_set1_verify_cert_store(ssl, material->ca_store.get());
    SSL_set_client_CA_list(ssl, SSL_dup_CA_list(material->ca_names.get()));  // takes the copy
  }
  return 1;
}

int TlsContext::VerifyCallback(X509_STORE_CTX* store, void* arg) {
  const auto* self = static_cast<const TlsContext*>(arg);
  if (VerifiesChain(self->config_.client_auth) && X509_verify_cert(store) <= 0) return 0;
  if (self->config_.client_allowed_sans.empty()) return 1;
  X509* leaf = X509_STORE_CTX_get0_cert(store);
  if (leaf == nullptr) return 0;
  for (const auto& san : SubjectAltNames(leaf)) {
    const auto& allowed = self->config_.client_allowed_sans;
    if (std::find(allowed.begin(), allowed.end(), san) != allowed.end()) return 1;
  }
  X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
  return 0;
}

Status TlsContext::Configure(SSL_CTX* ctx) {
  ERR_clear_error();
  const TlsServerConfig& c = config_;
  // Versions by min/max only: no SSL_OP_NO_* options left over.
  SSL_CTX_clear_options(ctx, SSL_OP_NO_SSL_MASK | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_options(ctx,
                      SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                          (c.prefer_server_cipher_suites ? SSL_OP_CIPHER_SERVER_PREFERENCE : 0));
  if (SSL_CTX_set_min_proto_version(ctx, ProtocolVersion(c.min_version)) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, ProtocolVersion(c.max_version)) != 1) {
    return MakeError(ErrorKind::kInvalid, std::string(kPrefix) + "min_version: OpenSSL rejects " +
                                              std::string(TlsVersionName(c.min_version)) + ".." +
                                              std::string(TlsVersionName(c.max_version)) + ": " +
                                              OpenSslError("unsupported"));
  }
  std::string ciphers;
  for (const auto& name : c.cipher_suites) {
    if (name.empty()) continue;  // TLS 1.3 suite: not configurable
    ciphers += (ciphers.empty() ? "" : ":") + name;
  }
  if (!ciphers.empty() && SSL_CTX_set_cipher_list(ctx, ciphers.c_str()) != 1) {
    return MakeError(ErrorKind::kInvalid, std::string(kPrefix) +
                                              "cipher_suites: OpenSSL can use none of " + ciphers +
                                              ": " + OpenSslError("no cipher match"));
  }
  if (!c.curve_groups.empty()) {
    std::string groups;
    for (const auto& g : c.curve_groups) groups += (groups.empty() ? "" : ":") + g;
    if (SSL_CTX_set1_groups_list(ctx, groups.c_str()) != 1) {
      return MakeError(ErrorKind::kInvalid, std::string(kPrefix) +
                                                "curve_preferences: OpenSSL rejects " + groups +
                                                ": " + OpenSslError("unsupported"));
    }
  }
  const auto material = Current();
  if (SSL_CTX_use_cert_and_key(ctx, material->leaf.get(), material->key.get(),
                               material->chain.get(), 1) != 1) {
    return MakeError(ErrorKind::kInvalid, std::string(kPrefix) +
                                              "cert_file: OpenSSL rejects the certificate: " +
                                              OpenSslError("unusable certificate"));
  }
  SSL_CTX_set_cert_cb(ctx, CertCallback, this);
  static constexpr unsigned char kSessionContext[] = "tcpstate_exporter";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof(kSessionContext) - 1);

  int mode = SSL_VERIFY_NONE;
  switch (c.client_auth) {
    case ClientAuth::kNoClientCert:
      break;
    case ClientAuth::kRequestClientCert:
    case ClientAuth::kVerifyClientCertIfGiven:
      mode = SSL_VERIFY_PEER;
      break;
    case ClientAuth::kRequireAnyClientCert:
    case ClientAuth::kRequireAndVerifyClientCert:
      mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
      break;
  }
  SSL_CTX_set_verify(ctx, mode, nullptr);
  if (mode != SSL_VERIFY_NONE) SSL_CTX_set_cert_verify_callback(ctx, VerifyCallback, this);
  if (material->ca_store != nullptr) {
    SSL_CTX_set1_verify_cert_store(ctx, material->ca_store.get());
    SSL_CTX_set_client_CA_list(ctx, SSL_dup_CA_list(material->ca_names.get()));  // takes the copy
  }
  return OkStatus();
}

Status ValidateTlsServerConfig(const TlsServerConfig& config) {
  auto context = TlsContext::Create(config);
  if (!context.ok()) return context.error();
  const UniqueSslCtx ctx(SSL_CTX_new(TLS_server_method()));
  if (ctx == nullptr)
    return MakeError(ErrorKind::kSystem, "cannot create an OpenSSL context", ENOMEM);
  return (*context)->Configure(ctx.get());
}

}  // namespace tcpstate
