// scrapeload: N concurrent scrapers of one HTTP URL on loopback, each
// sending one GET at a time for a bounded time, and the latency distribution
// of the complete responses.
//
// By default every request opens a new connection and asks for it to be
// closed, and asks for the identity encoding. Prometheus instead keeps its
// connection open and sends Accept-Encoding: gzip: --keep-alive and --gzip do
// the same (--keep-alive opens a new connection only when the server closes
// one; --gzip requires a gzip body and inflates the first one of every
// scraper to check it; --inflate inflates every body, inside the timing, as
// Prometheus does).
//
// Usage: scrapeload --port P [--host 127.0.0.1] [--path /metrics]
//                   [--concurrency 20] [--seconds 20] [--max-requests 200000]
//                   [--gzip] [--inflate] [--keep-alive]
// Prints one JSON object: requests (successful), errors (by kind: connect,
// send, recv, status, short, encoding; last_errno), bytes (of the last
// response body as sent), text_bytes (the same inflated), connections
// (opened), p50_ms, p90_ms, p99_ms, max_ms, mean_ms (successful requests),
// seconds.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path = "/metrics";
  int concurrency = 20;
  int seconds = 20;
  long max_requests = 200000;
  bool gzip = false;
  bool inflate = false;
  bool keep_alive = false;
};

enum ErrorKind { kConnect, kSend, kRecv, kStatus, kShort, kEncoding, kErrorKinds };
const char* const kErrorNames[kErrorKinds] = {"connect", "send",  "recv",
                                              "status",  "short", "encoding"};

// The inflated size of a gzip member, or nothing when it is not valid gzip.
std::optional<size_t> Inflate(std::string_view gz) {
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return std::nullopt;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  static thread_local std::vector<unsigned char> out(1 << 20);
  size_t total = 0;
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = out.data();
    z.avail_out = static_cast<uInt>(out.size());
    rc = inflate(&z, Z_NO_FLUSH);
    total += out.size() - z.avail_out;
    if (rc == Z_BUF_ERROR && z.avail_in == 0) break;  // truncated
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END || z.avail_in != 0) return std::nullopt;
  return total;
}

// The value of a response header (case-insensitive name), or "".
std::string_view Header(std::string_view head, std::string_view name) {
  size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    const size_t start = pos + 2;
    const size_t end = std::min(head.find("\r\n", start), head.size());
    const std::string_view line = head.substr(start, end - start);
    if (line.size() > name.size() && line[name.size()] == ':' &&
        std::equal(name.begin(), name.end(), line.begin(),
                   [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
      std::string_view value = line.substr(name.size() + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      return value;
    }
    pos = end;
  }
  return {};
}

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

struct Result {
  long body = -1;   // body size, or -1 - ErrorKind
  size_t text = 0;  // the identity body's size; 0: gzip, not inflated
};

// One scraper: its connection (kept with --keep-alive) and its requests.
class Scraper {
 public:
  Scraper(const Options& o, const sockaddr_in& addr, std::string request)
      : o_(o), addr_(addr), request_(std::move(request)) {}
  ~Scraper() { Close(); }

  // One request. `err` gets the errno of a failed syscall.
  Result Fetch(int* err, bool inflate) {
    const bool reused = fd_ >= 0;
    Result r = Attempt(err, inflate);
    // A kept connection the server closed meanwhile: retry once on a new one,
    // as HTTP clients do for idempotent requests.
    if (reused && r.body == -1 - kRecv && received_ == 0) r = Attempt(err, inflate);
    if (!o_.keep_alive || r.body < 0 || must_close_) Close();
    return r;
  }

  long connections() const { return connections_; }

 private:
  Result Attempt(int* err, bool inflate) {
    received_ = 0;
    must_close_ = false;
    if (fd_ < 0 && !Connect(err)) return {-1 - kConnect};
    if (::send(fd_, request_.data(), request_.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request_.size())) {
      *err = errno;
      Close();
      return {-1 - kSend};
    }
    std::string& response = buffer_;
    response.clear();
    size_t header_end = std::string::npos;
    long content_length = -1;
    char chunk[65536];
    while (true) {
      // A kept connection ends the response at Content-Length; otherwise read
      // to the server's close, so that it closes first (its TIME_WAIT, not ours).
      if (o_.keep_alive && header_end != std::string::npos && content_length >= 0 &&
          response.size() >= header_end + 4 + static_cast<size_t>(content_length)) {
        break;
      }
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n < 0) {
        *err = errno;
        Close();
        return {-1 - kRecv};
      }
      if (n == 0) {
        must_close_ = true;
        if (response.empty()) return {-1 - kRecv};
        break;
      }
      received_ += static_cast<size_t>(n);
      response.append(chunk, static_cast<size_t>(n));
      if (header_end == std::string::npos) {
        header_end = response.find("\r\n\r\n");
        if (header_end != std::string::npos) {
          const auto cl =
              Header(std::string_view(response).substr(0, header_end + 2), "Content-Length");
          if (!cl.empty()) content_length = std::strtol(std::string(cl).c_str(), nullptr, 10);
        }
      }
    }
    if (header_end == std::string::npos || response.rfind("HTTP/1.1 200", 0) != 0) {
      static std::atomic<bool> reported{false};
      if (!reported.exchange(true)) {
        std::fprintf(stderr, "scrapeload: first bad response (%zu bytes): %.60s\n", response.size(),
                     response.empty() ? "<empty>" : response.c_str());
      }
      must_close_ = true;
      return {-1 - kStatus};
    }
    const std::string_view head = std::string_view(response).substr(0, header_end + 2);
    const std::string_view body = std::string_view(response).substr(header_end + 4);
    if (IEquals(Header(head, "Connection"), "close")) must_close_ = true;
    if (content_length < 0 && o_.keep_alive) must_close_ = true;  // framed by EOF
    if (content_length >= 0 && body.size() != static_cast<size_t>(content_length)) {
      must_close_ = true;
      return {-1 - kShort};
    }
    Result r{static_cast<long>(body.size()), o_.gzip ? 0 : body.size()};
    if (o_.gzip) {
      if (!IEquals(Header(head, "Content-Encoding"), "gzip")) return {-1 - kEncoding};
      if (inflate) {
        const auto text = Inflate(body);
        if (!text) return {-1 - kEncoding};
        r.text = *text;
      }
    } else if (!Header(head, "Content-Encoding").empty()) {
      return {-1 - kEncoding};
    }
    return r;
  }

  bool Connect(int* err) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      *err = errno;
      return false;
    }
    timeval timeout{.tv_sec = 10, .tv_usec = 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    ++connections_;
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr_), sizeof addr_) != 0) {
      *err = errno;
      Close();
      return false;
    }
    return true;
  }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  const Options& o_;
  const sockaddr_in addr_;
  const std::string request_;
  int fd_ = -1;
  long connections_ = 0;
  size_t received_ = 0;
  bool must_close_ = false;
  std::string buffer_;
};

double Percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t index = std::min(
      sorted.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[index];
}

int Usage() {
  std::fprintf(stderr,
               "usage: scrapeload --port P [--host H] [--path /metrics] [--concurrency 1..1000]"
               " [--seconds 1..600] [--max-requests N] [--gzip] [--inflate] [--keep-alive]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--gzip") {
      o.gzip = true;
      continue;
    }
    if (flag == "--inflate") {
      o.gzip = o.inflate = true;
      continue;
    }
    if (flag == "--keep-alive") {
      o.keep_alive = true;
      continue;
    }
    if (i + 1 >= argc) return Usage();
    const char* v = argv[++i];
    if (flag == "--host")
      o.host = v;
    else if (flag == "--port")
      o.port = std::atoi(v);
    else if (flag == "--path")
      o.path = v;
    else if (flag == "--concurrency")
      o.concurrency = std::atoi(v);
    else if (flag == "--seconds")
      o.seconds = std::atoi(v);
    else if (flag == "--max-requests")
      o.max_requests = std::atol(v);
    else {
      std::fprintf(stderr, "scrapeload: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (o.port <= 0 || o.port > 65535 || o.concurrency < 1 || o.concurrency > 1000 || o.seconds < 1 ||
      o.seconds > 600 || o.max_requests < 1) {
    return Usage();
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(o.port));
  if (::inet_pton(AF_INET, o.host.c_str(), &addr.sin_addr) != 1) {
    std::fprintf(stderr, "scrapeload: bad host %s\n", o.host.c_str());
    return 2;
  }
  const std::string request =
      "GET " + o.path + " HTTP/1.1\r\nHost: " + o.host + ":" + std::to_string(o.port) +
      "\r\nAccept: text/plain\r\nAccept-Encoding: " + (o.gzip ? "gzip" : "identity") +
      "\r\nConnection: " + (o.keep_alive ? "keep-alive" : "close") + "\r\n\r\n";

  const auto start = Clock::now();
  const auto deadline = start + std::chrono::seconds(o.seconds);
  std::atomic<long> issued{0};
  std::atomic<long> errors{0};
  std::atomic<long> error_kinds[kErrorKinds] = {};
  std::atomic<int> last_errno{0};
  std::atomic<long> last_bytes{0};
  std::atomic<long> last_text_bytes{0};
  std::atomic<long> connections{0};
  std::vector<std::vector<double>> latencies(static_cast<size_t>(o.concurrency));
  std::vector<std::thread> threads;
  for (int t = 0; t < o.concurrency; ++t) {
    threads.emplace_back([&, t] {
      auto& mine = latencies[static_cast<size_t>(t)];
      Scraper scraper(o, addr, request);
      bool checked = false;
      while (Clock::now() < deadline && issued.fetch_add(1) < o.max_requests) {
        const auto t0 = Clock::now();
        int err = 0;
        // The first gzip body of every scraper is inflated and checked.
        const Result r = scraper.Fetch(&err, o.inflate || (o.gzip && !checked));
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        if (r.body < 0) {
          ++errors;
          ++error_kinds[-1 - r.body];
          if (err != 0) last_errno = err;
        } else {
          mine.push_back(ms);
          last_bytes = r.body;
          if (r.text > 0) last_text_bytes = static_cast<long>(r.text);
          checked = true;
        }
      }
      connections += scraper.connections();
    });
  }
  for (auto& thread : threads) thread.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();

  std::vector<double> all;
  for (const auto& v : latencies) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  double sum = 0;
  for (double v : all) sum += v;
  std::string kinds;
  for (int k = 0; k < kErrorKinds; ++k) {
    if (error_kinds[k] == 0) continue;
    kinds += std::string(kinds.empty() ? "" : ", ") + "\"" + kErrorNames[k] +
             "\": " + std::to_string(error_kinds[k].load());
  }
  const std::string last_error = last_errno != 0 ? std::strerror(last_errno) : "";
  std::printf(
      "{\"requests\": %zu, \"errors\": %ld, \"error_kinds\": {%s}, \"last_errno\": \"%s\", "
      "\"bytes\": %ld, \"text_bytes\": %ld, \"gzip\": %s, \"inflate\": %s, "
      "\"keep_alive\": %s, \"connections\": %ld, \"concurrency\": %d, "
      "\"seconds\": %.3f, \"p50_ms\": %.3f, \"p90_ms\": %.3f, \"p99_ms\": %.3f, "
      "\"max_ms\": %.3f, \"mean_ms\": %.3f}\n",
      all.size(), errors.load(), kinds.c_str(), last_error.c_str(), last_bytes.load(),
      last_text_bytes.load(), o.gzip ? "true" : "false", o.inflate ? "true" : "false",
      o.keep_alive ? "true" : "false", connections.load(), o.concurrency, seconds,
      Percentile(all, 50), Percentile(all, 90), Percentile(all, 99), all.empty() ? 0.0 : all.back(),
      all.empty() ? 0.0 : sum / static_cast<double>(all.size()));
  return errors.load() > 0 && all.empty() ? 1 : 0;
}
