#include "http/basic_auth.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>

#include "http/openssl_handles.h"

namespace tcpstate {
namespace {

constexpr std::string_view kBcryptAlphabet =
    "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
constexpr size_t kBcryptHashLength = 60;  // "$2b$10$" + 22 salt + 31 hash

bool EqualFoldAscii(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) {
      return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// Strict RFC 4648 base64 with padding, as Go's base64.StdEncoding.
std::optional<std::string> DecodeBase64(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      const char c = in[i + j];
      if (c == '=' && last && j >= 2) {
        v[j] = 0;
        ++pad;
        continue;
      }
      if (pad > 0) return std::nullopt;  // data after padding
      v[j] = value(c);
      if (v[j] < 0) return std::nullopt;
    }
    const uint32_t n = (static_cast<uint32_t>(v[0]) << 18) | (static_cast<uint32_t>(v[1]) << 12) |
                       (static_cast<uint32_t>(v[2]) << 6) | static_cast<uint32_t>(v[3]);
    out.push_back(static_cast<char>((n >> 16) & 0xff));
    if (pad < 2) out.push_back(static_cast<char>((n >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(n & 0xff));
  }
  return out;
}

void Sha256(const std::vector<std::string_view>& parts, unsigned char out[32]) {
  const UniqueEvpMdCtx ctx(EVP_MD_CTX_new());
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  for (const auto& part : parts) {
    // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
    const uint64_t size = part.size();
    EVP_DigestUpdate(ctx.get(), &size, sizeof(size));
    EVP_DigestUpdate(ctx.get(), part.data(), part.size());
  }
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), out, &len);
}

}  // namespace

Result<int> ParseBcryptHash(std::string_view hash) {
  const auto bad = [&](const std::string& why) {
    return MakeError(
        ErrorKind::kInvalid,
        "not a bcrypt hash (" + why + "); make one with: htpasswd -nBC 10 \"\" | tr -d ':\\n'");
  };
  if (hash.size() < 7 || hash[0] != '$' || hash[1] != '2' || hash[3] != '$' || hash[6] != '$') {
    return bad("it must start like $2y$10$");
  }
  if (hash[2] != 'a' && hash[2] != 'b' && hash[2] != 'y') {
    return bad("version $2" + std::string(1, hash[2]) + "$, want $2a$, $2b$ or $2y$");
  }
  if (hash[4] < '0' || hash[4] > '9' || hash[5] < '0' || hash[5] > '9') {
    return bad("the cost must be two digits");
  }
  const int cost = (hash[4] - '0') * 10 + (hash[5] - '0');
  if (cost < 4 || cost > 31) return bad("cost " + std::to_string(cost) + " outside 4..31");
  if (hash.size() != kBcryptHashLength) {
    return bad(std::to_string(hash.size()) + " characters, want " +
               std::to_string(kBcryptHashLength));
  }
  if (hash.substr(7).find_first_not_of(kBcryptAlphabet) != std::string_view::npos) {
    return bad("characters outside the bcrypt alphabet");
  }
  return cost;
}

std::optional<std::string> BcryptHash(const std::string& password, const std::string& setting) {
  struct crypt_data data;
  std::memset(&data, 0, sizeof(data));
  const char* out = crypt_rn(password.c_str(), setting.c_str(), &data, sizeof(data));
  if (out == nullptr || out[0] == '*') return std::nullopt;
  return std::string(out);
}

Result<std::string> MakeBcryptHash(const std::string& password, int cost) {
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  // No random bytes given: libxcrypt draws them from the kernel.
  if (crypt_gensalt_rn("$2b$", static_cast<unsigned long>(cost), nullptr, 0, setting,
                       sizeof(setting)) == nullptr) {
    return ErrnoError(errno, "cannot make a bcrypt salt");
  }
  auto hash = BcryptHash(password, setting);
  if (!hash) return MakeError(ErrorKind::kInvalid, "bcrypt is not available in libcrypt");
  return *hash;
}

std::optional<BasicCredentials> ParseBasicAuthorization(std::string_view header) {
  constexpr std::string_view kPrefix = "Basic ";
  if (header.size() < kPrefix.size() ||
      !EqualFoldAscii(header.substr(0, kPrefix.size()), kPrefix)) {
    return std::nullopt;
  }
  auto decoded = DecodeBase64(header.substr(kPrefix.size()));
  if (!decoded) return std::nullopt;
  const size_t colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  return BasicCredentials{decoded->substr(0, colon), decoded->substr(colon + 1)};
}

Result<std::unique_ptr<BasicAuthenticator>> BasicAuthenticator::Create(
    const std::vector<std::pair<std::string, std::string>>& users, Options options, HashFn hash) {
  std::unique_ptr<BasicAuthenticator> auth(new BasicAuthenticator(options, std::move(hash)));
  if (auth->options_.max_waiting == 0) auth->options_.max_waiting = 1;
  int max_cost = 4;
  for (const auto& [name, user_hash] : users) {
    auto cost = ParseBcryptHash(user_hash);
    if (!cost.ok())
      return MakeError(ErrorKind::kInvalid, "user " + name + ": " + cost.error().message);
    max_cost = std::max(max_cost, *cost);
    User user;
    Sha256({name}, user.name_digest.data());
    user.hash = user_hash;
    auth->users_.push_back(std::move(user));
  }
  if (RAND_bytes(auth->secret_.data(), static_cast<int>(auth->secret_.size())) != 1) {
    return MakeError(ErrorKind::kInvalid, "cannot draw random bytes for the credential cache", EIO);
  }
  // The dummy hash for unknown users: same cost as the most expensive real
  // one, so an unknown user takes as long as a wrong password.
  unsigned char random_password[24];
  if (RAND_bytes(random_password, sizeof(random_password)) != 1) {
    return MakeError(ErrorKind::kInvalid, "cannot draw random bytes for the dummy hash", EIO);
  }
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  if (crypt_gensalt_rn("$2b$", static_cast<unsigned long>(max_cost), nullptr, 0, setting,
                       sizeof(setting)) == nullptr) {
    return ErrnoError(errno, "cannot make a bcrypt salt");
  }
  std::string password;
  for (unsigned char c : random_password) password.push_back(kBcryptAlphabet[c % 64]);
  auto dummy = auth->hash_(password, setting);
  if (!dummy) return MakeError(ErrorKind::kInvalid, "bcrypt is not available in libcrypt");
  auth->dummy_hash_ = std::move(*dummy);
  return auth;
}

BasicAuthenticator::Digest BasicAuthenticator::CacheKey(const BasicCredentials& credentials,
                                                        const std::string& hash) const {
  Digest key;
  Sha256({std::string_view(reinterpret_cast<const char*>(secret_.data()), secret_.size()),
          credentials.user, credentials.password, hash},
         key.data());
  return key;
}

bool BasicAuthenticator::CacheContains(const Digest& key) {
  std::lock_guard lock(cache_mu_);
  unsigned found = 0;
  for (const auto& entry : cache_) {  // every entry, no early exit
    const unsigned same = CRYPTO_memcmp(entry.key.data(), key.data(), key.size()) == 0 ? 1 : 0;
    found |= same & (entry.valid ? 1U : 0U);
  }
  return found != 0;
}

void BasicAuthenticator::CacheInsert(const Digest& key) {
  std::lock_guard lock(cache_mu_);
  for (const auto& entry : cache_) {
    if (entry.valid && entry.key == key) return;
  }
  cache_[cache_next_] = CacheEntry{key, true};
  cache_next_ = (cache_next_ + 1) % cache_.size();
}

BasicAuthenticator::Outcome BasicAuthenticator::Check(std::string_view header) {
  auto credentials = ParseBasicAuthorization(header);
  if (!credentials) return Outcome::kDenied;  // no credentials: nothing to time

  // Find the user by digest, looking at every entry.
  Digest name_digest;
  Sha256({credentials->user}, name_digest.data());
  size_t index = 0;
  unsigned found = 0;
  for (size_t i = 0; i < users_.size(); ++i) {
    const unsigned same =
        CRYPTO_memcmp(users_[i].name_digest.data(), name_digest.data(), name_digest.size()) == 0
            ? 1
            : 0;
    index = same ? i : index;
    found |= same;
  }
  const std::string& stored = found ? users_[index].hash : dummy_hash_;

  // Looked up for unknown users too (never cached, so never a hit): the same
  // work either way.
  const Digest key = CacheKey(*credentials, stored);
  if (CacheContains(key) && found) return Outcome::kAllowed;

  if (bcrypt_queue_.fetch_add(1) >= options_.max_waiting) {
    bcrypt_queue_.fetch_sub(1);
    return Outcome::kBusy;
  }
  std::optional<std::string> computed;
  {
    std::lock_guard lock(bcrypt_mu_);
    computed = hash_(credentials->password, stored);
    hash_computations_.fetch_add(1);
  }
  bcrypt_queue_.fetch_sub(1);

  unsigned match = 0;
  if (computed && computed->size() == stored.size()) {
    match = CRYPTO_memcmp(computed->data(), stored.data(), stored.size()) == 0 ? 1 : 0;
  }
  // crypt() stops at a NUL byte: "secret\0anything" must not pass as "secret".
  const unsigned clean = credentials->password.find('\0') == std::string::npos ? 1 : 0;
  if ((match & found & clean) == 0) return Outcome::kDenied;
  CacheInsert(key);
  return Outcome::kAllowed;
}

}  // namespace tcpstate
