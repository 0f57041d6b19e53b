// HTTP basic authentication against bcrypt hashes (basic_auth_users of the
// web configuration file).
//
// * Which users exist does not show in the time a check takes: the user is
//   looked up by comparing a digest of the name with every configured user's
//   (no early exit), and an unknown user costs one bcrypt computation against
//   a dummy hash of the highest configured cost, like a wrong password. The
//   computed hash is compared with the stored one in constant time.
// * bcrypt is slow on purpose (cost 10: ~65 ms of CPU), so successful checks
//   are cached: a bounded table of SHA-256(per-process secret, user, password,
//   stored hash) digests, searched in full with constant-time compares. Only
//   successes are cached, so failed guesses cannot evict a good entry, and the
//   digest covers the stored hash, so a changed hash never matches old entries.
//   A scraper that keeps its password pays bcrypt once.
// * Cache misses run bcrypt one at a time (it must not take the cores the
//   poller needs); at most `max_waiting` checks wait for it, more are answered
//   kBusy at once (HTTP 503) instead of piling up on the server's threads.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace tcpstate {

// "$2a$", "$2b$" or "$2y$", a two-digit cost 4..31, "$", 53 characters of the
// bcrypt alphabet. On success returns the cost.
Result<int> ParseBcryptHash(std::string_view hash);

// crypt(3) with a bcrypt setting; nullopt when it fails.
std::optional<std::string> BcryptHash(const std::string& password, const std::string& setting);

// A fresh bcrypt hash ("$2b$") of password at cost, with a random salt.
Result<std::string> MakeBcryptHash(const std::string& password, int cost);

// The RFC 7617 credentials of an "Authorization: Basic ..." header value;
// nullopt when the header is missing or malformed.
struct BasicCredentials {
  std::string user;
  std::string password;
};
std::optional<BasicCredentials> ParseBasicAuthorization(std::string_view header);

class BasicAuthenticator {
 public:
  enum class Outcome { kAllowed, kDenied, kBusy };

  struct Options {
    uint32_t max_waiting = 8;  // checks queued for bcrypt (running one included)
  };

  // (password, stored hash or setting) -> crypt output. Replaceable in tests.
  using HashFn =
      std::function<std::optional<std::string>(const std::string&, const std::string&)>;

  static constexpr size_t kCacheEntries = 64;

  // users: user -> bcrypt hash, already validated (ParseBcryptHash).
  static Result<std::unique_ptr<BasicAuthenticator>> Create(
      const std::vector<std::pair<std::string, std::string>>& users, Options options,
      HashFn hash = BcryptHash);

  // header: the Authorization header's value, empty when there is none.
  Outcome Check(std::string_view header);

  // bcrypt computations so far (cache misses, unknown users included).
  uint64_t hash_computations() const { return hash_computations_.load(); }
  // Checks running or waiting for bcrypt right now.
  uint32_t bcrypt_queue() const { return bcrypt_queue_.load(); }
  const std::string& dummy_hash() const { return dummy_hash_; }

 private:
  using Digest = std::array<unsigned char, 32>;
  struct User {
    Digest name_digest;
    std::string hash;
  };
  struct CacheEntry {
    Digest key{};
    bool valid = false;
  };

  BasicAuthenticator(Options options, HashFn hash) : options_(options), hash_(std::move(hash)) {}
  Digest CacheKey(const BasicCredentials& credentials, const std::string& hash) const;
  bool CacheContains(const Digest& key);
  void CacheInsert(const Digest& key);

  Options options_;
  HashFn hash_;
  std::vector<User> users_;
  std::string dummy_hash_;
  std::array<unsigned char, 32> secret_{};

  std::mutex cache_mu_;
  std::array<CacheEntry, kCacheEntries> cache_{};
  size_t cache_next_ = 0;

  std::mutex bcrypt_mu_;
  std::atomic<uint32_t> bcrypt_queue_{0};
  std::atomic<uint64_t> hash_computations_{0};
};

}  // namespace tcpstate
