#include "http/web_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <optional>

#include "config/config_loader.h"
#include "config/yaml_checks.h"
#include "http/basic_auth.h"
#include "http/tls_context.h"

namespace tcpstate {
namespace {

std::vector<std::string> AsStringList(const YAML::Node& node, const std::string& path) {
  std::vector<std::string> out;
  if (node.IsNull()) return out;
  if (!node.IsSequence()) Fail(path, "must be a list");
  for (size_t i = 0; i < node.size(); ++i) {
    out.push_back(AsString(node[i], path + "[" + std::to_string(i) + "]"));
  }
  return out;
}

// The value at `key` when it is present and not null ("key:" with nothing).
std::optional<YAML::Node> Get(const YAML::Node& map, const char* key) {
  const YAML::Node value = map[key];
  if (!value.IsDefined() || value.IsNull()) return std::nullopt;
  return value;
}

std::string Resolve(const std::string& base_dir, const std::string& file) {
  if (file.empty() || file[0] == '/' || base_dir.empty()) return file;
  return base_dir.back() == '/' ? base_dir + file : base_dir + "/" + file;
}

TlsVersion AsTlsVersion(const YAML::Node& node, const std::string& path) {
  const std::string s = AsString(node, path);
  if (s == "TLS10") return TlsVersion::kTls10;
  if (s == "TLS11") return TlsVersion::kTls11;
  if (s == "TLS12") return TlsVersion::kTls12;
  if (s == "TLS13") return TlsVersion::kTls13;
  Fail(path, "unknown TLS version '" + s + "' (use TLS10, TLS11, TLS12 or TLS13)");
}

ClientAuth AsClientAuth(const YAML::Node& node, const std::string& path) {
  const std::string s = AsString(node, path);
  if (s.empty() || s == "NoClientCert") return ClientAuth::kNoClientCert;
  if (s == "RequestClientCert") return ClientAuth::kRequestClientCert;
  // "RequireClientCert": the older exporter-toolkit spelling.
  if (s == "RequireAnyClientCert" || s == "RequireClientCert") {
    return ClientAuth::kRequireAnyClientCert;
  }
  if (s == "VerifyClientCertIfGiven") return ClientAuth::kVerifyClientCertIfGiven;
  if (s == "RequireAndVerifyClientCert") return ClientAuth::kRequireAndVerifyClientCert;
  Fail(path, "unknown client_auth_type '" + s +
                 "' (use NoClientCert, RequestClientCert, RequireAnyClientCert, "
                 "VerifyClientCertIfGiven or RequireAndVerifyClientCert)");
}

void LoadTls(const YAML::Node& node, const std::string& base_dir, WebConfig& web) {
  const std::string path = "tls_server_config";
  ExpectMap(node, path,
            {"cert", "key", "client_ca", "cert_file", "key_file", "client_auth_type",
             "client_ca_file", "client_allowed_sans", "min_version", "max_version",
             "cipher_suites", "prefer_server_cipher_suites", "curve_preferences"});
  TlsServerConfig& tls = web.tls;
  auto text = [&](const char* key) {
    const auto value = Get(node, key);
    return value ? AsString(*value, path + "." + key) : std::string();
  };
  tls.cert_pem = text("cert");
  tls.key_pem = text("key");
  tls.client_ca_pem = text("client_ca");
  tls.cert_file = Resolve(base_dir, text("cert_file"));
  tls.key_file = Resolve(base_dir, text("key_file"));
  tls.client_ca_file = Resolve(base_dir, text("client_ca_file"));
  const std::string client_auth_text = text("client_auth_type");
  if (const auto v = Get(node, "client_auth_type")) {
    tls.client_auth = AsClientAuth(*v, path + ".client_auth_type");
  }

  // exporter-toolkit's rule: TLS is on when any of these is set.
  web.tls_enabled = !tls.cert_pem.empty() || !tls.key_pem.empty() ||
                    !tls.client_ca_pem.empty() || !tls.cert_file.empty() ||
                    !tls.key_file.empty() || !tls.client_ca_file.empty() ||
                    !client_auth_text.empty();
  if (!web.tls_enabled) {
    // exporter-toolkit would serve plain HTTP here, silently. Someone who
    // wrote (say) min_version meant TLS: say what is missing instead.
    for (const auto& item : node) {
      if (!item.second.IsNull()) {
        Fail(path + ".cert_file", "missing: set cert_file (or cert) and key_file (or key) to "
                                  "enable TLS, or remove tls_server_config");
      }
    }
    return;
  }
  if (!tls.cert_file.empty() && !tls.cert_pem.empty()) {
    Fail(path + ".cert", "set cert or cert_file, not both");
  }
  if (!tls.key_file.empty() && !tls.key_pem.empty()) {
    Fail(path + ".key", "set key or key_file, not both");
  }
  if (!tls.client_ca_file.empty() && !tls.client_ca_pem.empty()) {
    Fail(path + ".client_ca", "set client_ca or client_ca_file, not both");
  }
  if (tls.cert_file.empty() && tls.cert_pem.empty()) {
    Fail(path + ".cert_file", "missing: TLS needs cert_file (or cert)");
  }
  if (tls.key_file.empty() && tls.key_pem.empty()) {
    Fail(path + ".key_file", "missing: TLS needs key_file (or key)");
  }
  const bool has_ca = !tls.client_ca_file.empty() || !tls.client_ca_pem.empty();
  if (has_ca && tls.client_auth == ClientAuth::kNoClientCert) {
    Fail(path + ".client_ca_file",
         "a client CA is set but client_auth_type is NoClientCert (set client_auth_type, "
         "e.g. RequireAndVerifyClientCert)");
  }
  if (!has_ca && (tls.client_auth == ClientAuth::kVerifyClientCertIfGiven ||
                  tls.client_auth == ClientAuth::kRequireAndVerifyClientCert)) {
    Fail(path + ".client_ca_file", "missing: client_auth_type " + client_auth_text +
                                       " verifies client certificates against client_ca_file "
                                       "(or client_ca)");
  }
  if (const auto v = Get(node, "client_allowed_sans")) {
    tls.client_allowed_sans = AsStringList(*v, path + ".client_allowed_sans");
    if (!tls.client_allowed_sans.empty() &&
        tls.client_auth != ClientAuth::kRequireAnyClientCert &&
        tls.client_auth != ClientAuth::kRequireAndVerifyClientCert) {
      Fail(path + ".client_allowed_sans",
           "needs client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert "
           "(otherwise a client may send no certificate to match)");
    }
  }
  if (const auto v = Get(node, "min_version")) {
    tls.min_version = AsTlsVersion(*v, path + ".min_version");
  }
  if (const auto v = Get(node, "max_version")) {
    tls.max_version = AsTlsVersion(*v, path + ".max_version");
  }
  if (tls.min_version > tls.max_version) {
    Fail(path + ".min_version", std::string(TlsVersionName(tls.min_version)) +
                                    " is above max_version " +
                                    std::string(TlsVersionName(tls.max_version)));
  }
  if (const auto v = Get(node, "cipher_suites")) {
    const auto names = AsStringList(*v, path + ".cipher_suites");
    for (size_t i = 0; i < names.size(); ++i) {
      auto openssl = OpenSslCipherName(names[i]);
      if (!openssl) {
        Fail(path + ".cipher_suites[" + std::to_string(i) + "]",
             "unknown cipher suite '" + names[i] +
                 "' (use Go's names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)");
      }
      tls.cipher_suites.push_back(*openssl);
    }
  }
  if (const auto v = Get(node, "prefer_server_cipher_suites")) {
    tls.prefer_server_cipher_suites = AsBool(*v, path + ".prefer_server_cipher_suites");
  }
  if (const auto v = Get(node, "curve_preferences")) {
    const auto names = AsStringList(*v, path + ".curve_preferences");
    for (size_t i = 0; i < names.size(); ++i) {
      auto group = OpenSslGroupName(names[i]);
      if (!group) {
        Fail(path + ".curve_preferences[" + std::to_string(i) + "]",
             "unknown curve '" + names[i] + "' (use CurveP256, CurveP384, CurveP521 or X25519)");
      }
      tls.curve_groups.push_back(*group);
    }
  }
  // Files, PEM, key match, and every setting through OpenSSL.
  if (auto ok = ValidateTlsServerConfig(tls); !ok.ok()) throw YamlKeyError{"", ok.error().message};
}

// exporter-toolkit's list: these names only, two of them with fixed values.
void LoadHeaders(const YAML::Node& node, const std::string& path, WebConfig& web) {
  ExpectMap(node, path,
            {"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options",
             "X-XSS-Protection", "Strict-Transport-Security"});
  for (const auto& item : node) {
    const std::string name = item.first.Scalar();
    const std::string key_path = path + "." + name;
    const std::string value = item.second.IsNull() ? "" : AsString(item.second, key_path);
    if (value.find_first_of("\r\n") != std::string::npos) {
      Fail(key_path, "must not contain line breaks");
    }
    if (name == "X-Frame-Options" && !value.empty() && value != "deny" &&
        value != "sameorigin") {
      Fail(key_path, "must be deny or sameorigin, got '" + value + "'");
    }
    if (name == "X-Content-Type-Options" && !value.empty() && value != "nosniff") {
      Fail(key_path, "must be nosniff, got '" + value + "'");
    }
    if (!value.empty()) web.headers.emplace_back(name, value);  // blank: unset
  }
}

void LoadUsers(const YAML::Node& node, const std::string& path, WebConfig& web) {
  ExpectMap(node, path, {});
  for (const auto& item : node) {
    const std::string user = item.first.Scalar();
    const std::string key_path = path + "." + user;
    if (user.empty()) Fail(path, "a user name is empty");
    if (user.find(':') != std::string::npos) {
      Fail(key_path, "user names cannot contain ':' (basic auth separates user and "
                     "password with it)");
    }
    if (!item.second.IsScalar()) Fail(key_path, "must be a bcrypt hash (a string)");
    const std::string hash = item.second.Scalar();
    if (auto cost = ParseBcryptHash(hash); !cost.ok()) Fail(key_path, cost.error().message);
    web.basic_auth_users.emplace_back(user, hash);
  }
  std::sort(web.basic_auth_users.begin(), web.basic_auth_users.end());
}

void LoadRateLimit(const YAML::Node& node, const std::string& path, WebConfig& web) {
  ExpectMap(node, path, {"interval", "burst"});
  if (const auto v = Get(node, "interval")) {
    const std::string text = AsString(*v, path + ".interval");
    if (text != "0") {
      auto parsed = ParseDuration(text);
      if (!parsed.ok()) Fail(path + ".interval", parsed.error().message);
      web.rate_limit_interval = *parsed;
    }
  }
  if (const auto v = Get(node, "burst")) {
    const std::string text = AsString(*v, path + ".burst");
    uint32_t burst = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), burst);
    if (ec != std::errc() || ptr != text.data() + text.size() || text.empty() ||
        burst > 1'000'000) {
      Fail(path + ".burst", "must be a whole number 0..1000000, got '" + text + "'");
    }
    web.rate_limit_burst = burst;
  }
  if (web.rate_limit_interval.count() > 0 && web.rate_limit_burst == 0) {
    Fail(path + ".burst", "must be at least 1 when interval is set (0 would refuse every "
                          "request)");
  }
}

WebConfig LoadRoot(const YAML::Node& root, const std::string& base_dir) {
  WebConfig web;
  if (root.IsNull()) return web;  // an empty file: plain HTTP, no auth
  ExpectMap(root, "",
            {"tls_server_config", "http_server_config", "basic_auth_users", "rate_limit"});
  if (const auto v = Get(root, "tls_server_config")) LoadTls(*v, base_dir, web);
  if (const auto v = Get(root, "http_server_config")) {
    ExpectMap(*v, "http_server_config", {"http2", "headers"});
    if (const auto h2 = Get(*v, "http2")) web.http2 = AsBool(*h2, "http_server_config.http2");
    if (const auto h = Get(*v, "headers")) LoadHeaders(*h, "http_server_config.headers", web);
  }
  if (const auto v = Get(root, "basic_auth_users")) LoadUsers(*v, "basic_auth_users", web);
  if (const auto v = Get(root, "rate_limit")) LoadRateLimit(*v, "rate_limit", web);
  return web;
}

}  // namespace

std::string_view TlsVersionName(TlsVersion version) {
  switch (version) {
    case TlsVersion::kTls10: return "TLS10";
    case TlsVersion::kTls11: return "TLS11";
    case TlsVersion::kTls12: return "TLS12";
    case TlsVersion::kTls13: return "TLS13";
  }
  return "?";
}

Result<WebConfig> ParseWebConfig(std::string_view yaml, const std::string& base_dir) {
  return ParseYaml(yaml, [&](const YAML::Node& root) { return LoadRoot(root, base_dir); });
}

Result<WebConfig> LoadWebConfigFile(const std::string& path) {
  auto text = ReadYamlFile(path, "web config");
  if (!text.ok()) return text.error();
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  auto config = ParseWebConfig(*text, dir);
  if (!config.ok()) return InYamlFile(path, config.error());
  config->path = path;
  return config;
}

}  // namespace tcpstate
