// scrapeload: N concurrent scrapers of one HTTP URL on loopback, each
// sending one GET at a time (new connection per request, like Prometheus
// against an exporter that closes connections) for a bounded time, and the
// latency distribution of the complete responses.
//
// Usage: scrapeload --port P [--host 127.0.0.1] [--path /metrics]
//                   [--concurrency 20] [--seconds 20] [--max-requests 200000]
// Prints one JSON object: requests (successful), errors (by kind:
// connect, send, recv, status, short; last_errno), bytes (of the last
// response), p50_ms, p90_ms, p99_ms, max_ms, mean_ms (successful requests),
// seconds.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
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
};

enum ErrorKind { kConnect, kSend, kRecv, kStatus, kShort, kErrorKinds };
const char* const kErrorNames[kErrorKinds] = {"connect", "send", "recv", "status", "short"};

// One request; returns the body size, or -1 - ErrorKind on an error (connect
// or send failure, recv error or 10 s timeout, not a 200, body shorter than
// Content-Length). `err` gets the errno of a failed syscall.
long Fetch(const sockaddr_in& addr, const std::string& request, int* err) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = errno;
    return -1 - kConnect;
  }
  timeval timeout{.tv_sec = 10, .tv_usec = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  long result = -1 - kStatus;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    *err = errno;
    result = -1 - kConnect;
  } else if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
             static_cast<ssize_t>(request.size())) {
    *err = errno;
    result = -1 - kSend;
  } else {
    std::string response;
    char buf[65536];
    bool failed = false;
    for (int reads = 0; reads < 100000; ++reads) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n == 0) break;
      if (n < 0) {
        *err = errno;
        failed = true;
        break;
      }
      response.append(buf, static_cast<size_t>(n));
    }
    const auto header_end = response.find("\r\n\r\n");
    if (failed) {
      result = -1 - kRecv;
    } else if (response.rfind("HTTP/1.1 200", 0) != 0 || header_end == std::string::npos) {
      static std::atomic<bool> reported{false};
      if (!reported.exchange(true)) {
        std::fprintf(stderr, "scrapeload: first bad response (%zu bytes): %.60s\n",
                     response.size(), response.empty() ? "<empty>" : response.c_str());
      }
    } else {
      const long body = static_cast<long>(response.size() - header_end - 4);
      const auto cl = response.find("Content-Length: ");
      if (cl == std::string::npos || cl > header_end ||
          std::strtol(response.c_str() + cl + 16, nullptr, 10) == body) {
        result = body;
      } else {
        result = -1 - kShort;
      }
    }
  }
  ::close(fd);
  return result;
}

double Percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t index = std::min(sorted.size() - 1,
                                static_cast<size_t>(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[index];
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* v = argv[i + 1];
    if (flag == "--host") o.host = v;
    else if (flag == "--port") o.port = std::atoi(v);
    else if (flag == "--path") o.path = v;
    else if (flag == "--concurrency") o.concurrency = std::atoi(v);
    else if (flag == "--seconds") o.seconds = std::atoi(v);
    else if (flag == "--max-requests") o.max_requests = std::atol(v);
    else {
      std::fprintf(stderr, "scrapeload: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (argc % 2 == 0 || o.port <= 0 || o.port > 65535 || o.concurrency < 1 ||
      o.concurrency > 1000 || o.seconds < 1 || o.seconds > 600 || o.max_requests < 1) {
    std::fprintf(stderr,
                 "usage: scrapeload --port P [--host H] [--path /metrics] [--concurrency 1..1000]"
                 " [--seconds 1..600] [--max-requests N]\n");
    return 2;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(o.port));
  if (::inet_pton(AF_INET, o.host.c_str(), &addr.sin_addr) != 1) {
    std::fprintf(stderr, "scrapeload: bad host %s\n", o.host.c_str());
    return 2;
  }
  const std::string request = "GET " + o.path + " HTTP/1.1\r\nHost: " + o.host + ":" +
                              std::to_string(o.port) +
                              "\r\nAccept: text/plain\r\nConnection: close\r\n\r\n";

  const auto start = Clock::now();
  const auto deadline = start + std::chrono::seconds(o.seconds);
  std::atomic<long> issued{0};
  std::atomic<long> errors{0};
  std::atomic<long> error_kinds[kErrorKinds] = {};
  std::atomic<int> last_errno{0};
  std::atomic<long> last_bytes{0};
  std::vector<std::vector<double>> latencies(static_cast<size_t>(o.concurrency));
  std::vector<std::thread> threads;
  for (int t = 0; t < o.concurrency; ++t) {
    threads.emplace_back([&, t] {
      auto& mine = latencies[static_cast<size_t>(t)];
      while (Clock::now() < deadline && issued.fetch_add(1) < o.max_requests) {
        const auto t0 = Clock::now();
        int err = 0;
        const long bytes = Fetch(addr, request, &err);
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        if (bytes < 0) {
          ++errors;
          ++error_kinds[-1 - bytes];
          if (err != 0) last_errno = err;
        } else {
          mine.push_back(ms);
          last_bytes = bytes;
        }
      }
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
      "\"bytes\": %ld, \"concurrency\": %d, "
      "\"seconds\": %.3f, \"p50_ms\": %.3f, \"p90_ms\": %.3f, \"p99_ms\": %.3f, "
      "\"max_ms\": %.3f, \"mean_ms\": %.3f}\n",
      all.size(), errors.load(), kinds.c_str(), last_error.c_str(), last_bytes.load(),
      o.concurrency, seconds,
      Percentile(all, 50), Percentile(all, 90), Percentile(all, 99),
      all.empty() ? 0.0 : all.back(), all.empty() ? 0.0 : sum / static_cast<double>(all.size()));
  return errors.load() > 0 && all.empty() ? 1 : 0;
}
