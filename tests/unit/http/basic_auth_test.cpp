#include "http/basic_auth.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

namespace tcpstate {
namespace {

// Made with `htpasswd -nbBC 4 alice 'correct horse'` and crypt(3).
constexpr const char* kHtpasswd2y = "$2y$04$Qu8nw6GKUuYExLxRo3Z6C.G467U06ALjvx2DASQtr4/0VtnpAGmFe";
constexpr const char* kCrypt2a = "$2a$04$abcdefghijklmnopqrstuujydOTSfIH/d5oUHpsygqV5X9xJLQc6e";
constexpr const char* kCrypt2b = "$2b$04$abcdefghijklmnopqrstuujydOTSfIH/d5oUHpsygqV5X9xJLQc6e";

std::string Base64(const std::string& in) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t n = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(n >> s) & 63];
  }
  if (i + 1 == in.size()) {
    const uint32_t n = static_cast<unsigned char>(in[i]) << 16;
    out += std::string{kAlphabet[(n >> 18) & 63], kAlphabet[(n >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const uint32_t n =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += std::string{kAlphabet[(n >> 18) & 63], kAlphabet[(n >> 12) & 63],
                       kAlphabet[(n >> 6) & 63], '='};
  }
  return out;
}

std::string Header(const std::string& user, const std::string& password) {
  return "Basic " + Base64(user + ":" + password);
}

using Outcome = BasicAuthenticator::Outcome;

TEST(BcryptHash, AcceptsTheThreeVersions) {
  for (const char* hash : {kHtpasswd2y, kCrypt2a, kCrypt2b}) {
    auto cost = ParseBcryptHash(hash);
    ASSERT_TRUE(cost.ok()) << hash << ": " << cost.error().message;
    EXPECT_EQ(*cost, 4);
  }
}

TEST(BcryptHash, RejectsWhatIsNotBcrypt) {
  for (const char* bad : {
           "",
           "secret",                                                         // a plain password
           "$1$abcdefgh$abcdefghijklmnopqrstuv",                             // MD5-crypt
           "$6$salt$hash",                                                   // SHA-512-crypt
           "$2x$04$abcdefghijklmnopqrstuujydOTSfIH/d5oUHpsygqV5X9xJLQc6e",   // bad version
           "$2b$03$abcdefghijklmnopqrstuujydOTSfIH/d5oUHpsygqV5X9xJLQc6e",   // cost < 4
           "$2b$32$abcdefghijklmnopqrstuujydOTSfIH/d5oUHpsygqV5X9xJLQc6e",   // cost > 31
           "$2b$04$abcdefghijklmnopqrstuujydOTSfIH/d5oUHpsygqV5X9xJLQc6",    // short
           "$2b$04$abcdefghijklmnopqrstuujydOTSfIH/d5oUHpsygqV5X9xJLQc6e=",  // long
           "$2b$04$abcdefghijklmnopqrstuujydOTSfIH/d5oUHpsygqV5X9xJLQc6+",   // alphabet
       }) {
    auto cost = ParseBcryptHash(bad);
    EXPECT_FALSE(cost.ok()) << bad;
    if (!cost.ok()) {
      EXPECT_NE(cost.error().message.find("htpasswd"), std::string::npos);
    }
  }
}

TEST(BcryptHash, LibcryptVerifiesEveryVersion) {
  for (const char* hash : {kHtpasswd2y, kCrypt2a, kCrypt2b}) {
    EXPECT_EQ(BcryptHash("correct horse", hash), std::string(hash)) << hash;
    EXPECT_NE(BcryptHash("wrong horse", hash), std::string(hash)) << hash;
  }
  auto made = MakeBcryptHash("pw", 5);
  ASSERT_TRUE(made.ok());
  EXPECT_EQ(made->substr(0, 7), "$2b$05$");
  EXPECT_EQ(BcryptHash("pw", *made), *made);
}

TEST(BasicAuthorization, Parses) {
  auto c = ParseBasicAuthorization(Header("alice", "pa:ss word"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->user, "alice");
  EXPECT_EQ(c->password, "pa:ss word");  // split at the first colon only
  c = ParseBasicAuthorization("bAsIc " + Base64("a:"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->password, "");
}

TEST(BasicAuthorization, RejectsMalformed) {
  EXPECT_FALSE(ParseBasicAuthorization(""));
  EXPECT_FALSE(ParseBasicAuthorization("Bearer abc"));
  EXPECT_FALSE(ParseBasicAuthorization("Basic"));
  EXPECT_FALSE(ParseBasicAuthorization("Basic " + Base64("no colon")));
  EXPECT_FALSE(ParseBasicAuthorization("Basic YWxpY2U6c2VjcmV0MQ"));  // unpadded
  EXPECT_FALSE(ParseBasicAuthorization("Basic  " + Base64("a:b")));   // extra space
  EXPECT_FALSE(ParseBasicAuthorization("Basic YW=xp"));               // data after padding
  EXPECT_FALSE(ParseBasicAuthorization("Basic ****"));
}

class BasicAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto hash = MakeBcryptHash("secret", 4);
    ASSERT_TRUE(hash.ok());
    auto auth = BasicAuthenticator::Create({{"alice", *hash}, {"bob", kHtpasswd2y}}, {});
    ASSERT_TRUE(auth.ok()) << auth.error().message;
    auth_ = std::move(*auth);
  }
  std::unique_ptr<BasicAuthenticator> auth_;
};

TEST_F(BasicAuthTest, GoodWrongUnknownAndMissing) {
  EXPECT_EQ(auth_->Check(Header("alice", "secret")), Outcome::kAllowed);
  EXPECT_EQ(auth_->Check(Header("bob", "correct horse")), Outcome::kAllowed);
  EXPECT_EQ(auth_->Check(Header("alice", "wrong")), Outcome::kDenied);
  EXPECT_EQ(auth_->Check(Header("alice", "")), Outcome::kDenied);
  EXPECT_EQ(auth_->Check(Header("bob", "secret")), Outcome::kDenied);  // alice's password
  EXPECT_EQ(auth_->Check(Header("carol", "secret")), Outcome::kDenied);
  EXPECT_EQ(auth_->Check(Header("Alice", "secret")), Outcome::kDenied);  // names are exact
  EXPECT_EQ(auth_->Check(""), Outcome::kDenied);
  EXPECT_EQ(auth_->Check("Basic !!!"), Outcome::kDenied);
}

TEST_F(BasicAuthTest, UnknownUserCostsOneBcryptLikeAWrongPassword) {
  const uint64_t start = auth_->hash_computations();
  EXPECT_EQ(auth_->Check(Header("mallory", "x")), Outcome::kDenied);
  EXPECT_EQ(auth_->hash_computations(), start + 1);
  EXPECT_EQ(auth_->Check(Header("alice", "x")), Outcome::kDenied);
  EXPECT_EQ(auth_->hash_computations(), start + 2);
  // Nothing to check without credentials.
  EXPECT_EQ(auth_->Check(""), Outcome::kDenied);
  EXPECT_EQ(auth_->hash_computations(), start + 2);
}

TEST(BasicAuth, DummyHashHasTheHighestConfiguredCost) {
  auto cheap = MakeBcryptHash("a", 4);
  auto dearer = MakeBcryptHash("b", 6);
  ASSERT_TRUE(cheap.ok() && dearer.ok());
  auto auth = BasicAuthenticator::Create({{"a", *cheap}, {"b", *dearer}}, {});
  ASSERT_TRUE(auth.ok());
  EXPECT_EQ((*auth)->dummy_hash().substr(0, 7), "$2b$06$");
  EXPECT_TRUE(ParseBcryptHash((*auth)->dummy_hash()).ok());
}

TEST_F(BasicAuthTest, SuccessIsCachedFailureIsNot) {
  const uint64_t start = auth_->hash_computations();
  EXPECT_EQ(auth_->Check(Header("alice", "secret")), Outcome::kAllowed);
  EXPECT_EQ(auth_->hash_computations(), start + 1);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(auth_->Check(Header("alice", "secret")), Outcome::kAllowed);
  EXPECT_EQ(auth_->hash_computations(), start + 1);  // served from the cache
  for (int i = 0; i < 3; ++i) EXPECT_EQ(auth_->Check(Header("alice", "nope")), Outcome::kDenied);
  EXPECT_EQ(auth_->hash_computations(), start + 4);  // every failure pays bcrypt
  // A cached user's other (wrong) password is not let through by the cache.
  EXPECT_EQ(auth_->Check(Header("alice", "secret ")), Outcome::kDenied);
}

TEST_F(BasicAuthTest, NulInPasswordNeverMatches) {
  // crypt() would stop at the NUL and see "secret".
  EXPECT_EQ(auth_->Check(Header("alice", std::string("secret\0tail", 11))), Outcome::kDenied);
  EXPECT_EQ(auth_->Check(Header("alice", std::string("secret\0", 7))), Outcome::kDenied);
}

TEST(BasicAuth, CacheIsBounded) {
  // More users than cache entries, each logging in once: the oldest entry is
  // gone and costs bcrypt again.
  auto hash = MakeBcryptHash("pw", 4);
  ASSERT_TRUE(hash.ok());
  std::vector<std::pair<std::string, std::string>> users;
  const size_t n = BasicAuthenticator::kCacheEntries + 6;
  for (size_t i = 0; i < n; ++i) users.emplace_back("user" + std::to_string(i), *hash);
  auto auth = BasicAuthenticator::Create(users, {});
  ASSERT_TRUE(auth.ok());
  for (size_t i = 0; i < n; ++i) {
    ASSERT_EQ((*auth)->Check(Header(users[i].first, "pw")), Outcome::kAllowed);
  }
  const uint64_t after_all = (*auth)->hash_computations();
  EXPECT_EQ((*auth)->Check(Header(users[n - 1].first, "pw")), Outcome::kAllowed);
  EXPECT_EQ((*auth)->hash_computations(), after_all);  // recent: cached
  EXPECT_EQ((*auth)->Check(Header(users[0].first, "pw")), Outcome::kAllowed);
  EXPECT_EQ((*auth)->hash_computations(), after_all + 1);  // evicted
}

TEST(BasicAuth, BusyBeyondTheQueueCachedSuccessStillPasses) {
  // A hash function that blocks until released, to hold the bcrypt slot.
  std::mutex mu;
  std::condition_variable cv;
  bool release = true;  // Create() computes the dummy hash first
  int entered = 0;
  auto hash = [&](const std::string& password, const std::string& setting) {
    std::unique_lock lock(mu);
    ++entered;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    return BcryptHash(password, setting);
  };
  auto good = MakeBcryptHash("pw", 4);
  ASSERT_TRUE(good.ok());
  auto created = BasicAuthenticator::Create({{"alice", *good}, {"bob", *good}},
                                            BasicAuthenticator::Options{2}, hash);
  ASSERT_TRUE(created.ok());
  auto& auth = *created;
  ASSERT_EQ(auth->Check(Header("alice", "pw")), Outcome::kAllowed);  // now cached

  {
    std::lock_guard lock(mu);
    release = false;
    entered = 0;
  }
  auto first = std::async(std::launch::async, [&] { return auth->Check(Header("bob", "x")); });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return entered == 1; });  // first holds the bcrypt slot
  }
  auto second = std::async(std::launch::async, [&] { return auth->Check(Header("bob", "y")); });
  for (int i = 0; i < 1000 && auth->bcrypt_queue() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const uint32_t queued = auth->bcrypt_queue();
  EXPECT_EQ(queued, 2u);  // one computing, one waiting: full
  if (queued == 2) {      // (otherwise these would block on the held slot)
    EXPECT_EQ(auth->Check(Header("mallory", "z")), Outcome::kBusy);
    EXPECT_EQ(auth->Check(Header("bob", "pw")), Outcome::kBusy);  // even a right password
    // A cached success needs no bcrypt and is not queued.
    EXPECT_EQ(auth->Check(Header("alice", "pw")), Outcome::kAllowed);
  }
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  EXPECT_EQ(first.get(), Outcome::kDenied);
  EXPECT_EQ(second.get(), Outcome::kDenied);
}

TEST(BasicAuth, RejectsBadHashes) {
  auto auth = BasicAuthenticator::Create({{"alice", "plaintext"}}, {});
  ASSERT_FALSE(auth.ok());
  EXPECT_NE(auth.error().message.find("alice"), std::string::npos);
}

}  // namespace
}  // namespace tcpstate
