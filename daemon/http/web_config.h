// The web configuration file (--web.config.file): TLS, basic auth, response
// headers and a rate limit, in the format of the Prometheus exporter-toolkit
// (https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md),
// so a node_exporter web-config.yml works here unchanged. Parsing checks
// everything it can before the server starts: unknown keys, bad values,
// unreadable files, certificates that do not parse or do not match their key,
// bcrypt hashes that are not bcrypt. Every error names its key path.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace tcpstate {

enum class TlsVersion { kTls10, kTls11, kTls12, kTls13 };

// Go's crypto/tls ClientAuthType names, as exporter-toolkit spells them.
enum class ClientAuth {
  kNoClientCert,
  kRequestClientCert,           // ask, accept anything or nothing
  kRequireAnyClientCert,        // require one, do not verify it
  kVerifyClientCertIfGiven,     // verify it if the client sends one
  kRequireAndVerifyClientCert,  // require one and verify it against the CA
};

struct TlsServerConfig {
  // PEM from a file (path made absolute against the web config file's
  // directory) or inline; exactly one of each pair is set.
  std::string cert_file, cert_pem;
  std::string key_file, key_pem;
  std::string client_ca_file, client_ca_pem;  // both empty: no client CA
  ClientAuth client_auth = ClientAuth::kNoClientCert;
  // The client certificate must carry one of these SANs (DNS, IP, e-mail or
  // URI, exact match); empty: not checked.
  std::vector<std::string> client_allowed_sans;
  TlsVersion min_version = TlsVersion::kTls12;
  TlsVersion max_version = TlsVersion::kTls13;
  // OpenSSL names of the TLS <= 1.2 cipher suites (mapped from the IANA / Go
  // names of the file); empty: OpenSSL's defaults. TLS 1.3 suites are not
  // configurable, as in Go.
  std::vector<std::string> cipher_suites;
  bool prefer_server_cipher_suites = true;
  std::vector<std::string> curve_groups;  // OpenSSL group names, e.g. "P-256"
};

struct WebConfig {
  std::string path;  // the file this came from, for messages

  bool tls_enabled = false;
  TlsServerConfig tls;

  // http_server_config. HTTP/2 is not supported (the server speaks HTTP/1.1);
  // the key is accepted so existing files load.
  bool http2 = true;
  std::vector<std::pair<std::string, std::string>> headers;  // added to every response

  // user -> bcrypt hash ($2a$, $2b$ or $2y$), sorted by user. Empty: no auth.
  std::vector<std::pair<std::string, std::string>> basic_auth_users;

  // Token bucket over every request but the probes: one token per interval,
  // at most `burst` saved. interval 0: off. Over the limit: 429.
  std::chrono::milliseconds rate_limit_interval{0};
  uint32_t rate_limit_burst = 0;
};

// base_dir: the directory relative file names are resolved against (the web
// config file's own directory, as exporter-toolkit does).
Result<WebConfig> ParseWebConfig(std::string_view yaml, const std::string& base_dir);
Result<WebConfig> LoadWebConfigFile(const std::string& path);

std::string_view TlsVersionName(TlsVersion version);

}  // namespace tcpstate
