#include "netlink/replay_transport.h"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

namespace tcpstate {
namespace {

constexpr uint32_t kReplayPortId = 4242;

Result<std::vector<uint8_t>> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoError(errno, "open " + path.string());
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

class ReplayTransport : public NetlinkTransport {
 public:
  explicit ReplayTransport(std::filesystem::path dir) : dir_(std::move(dir)) {}

  uint32_t PortId() const override { return kReplayPortId; }

  Status Send(std::span<const uint8_t> message) override {
    if (message.size() < NLMSG_HDRLEN) return MakeError(ErrorKind::kInvalid, "replay: request too short");
    nlmsghdr hdr;
    std::memcpy(&hdr, message.data(), sizeof(hdr));
    pending_.clear();
    offset_ = 0;
    if (hdr.nlmsg_type == TCPDIAG_GETSOCK) {
      // The legacy request covers both families, like the kernel's
      // AF_UNSPEC walk: both recordings, one DONE.
      if (message.size() < NLMSG_HDRLEN + sizeof(inet_diag_req)) {
        return MakeError(ErrorKind::kInvalid, "replay: request too short");
      }
      for (const char* name : {"inet.bin", "inet6.bin"}) {
        if (auto status = Append(dir_ / name); !status.ok()) return status;
        DropTrailingDone();
      }
    } else {
      if (message.size() < NLMSG_HDRLEN + sizeof(inet_diag_req_v2)) {
        return MakeError(ErrorKind::kInvalid, "replay: request too short");
      }
      inet_diag_req_v2 req;
      std::memcpy(&req, message.data() + NLMSG_HDRLEN, sizeof(req));
      const char* name = req.sdiag_family == AF_INET6 ? "inet6.bin" : "inet.bin";
      if (auto status = Append(dir_ / name); !status.ok()) return status;
    }
    if (!EndsWithDone()) AppendDone();
    Restamp(hdr);
    return OkStatus();
  }

  Result<size_t> Receive(std::span<uint8_t> buffer) override {
    // Hand out whole messages, as many as fit, like the kernel does.
    size_t out = 0;
    while (offset_ < pending_.size()) {
      const size_t left = pending_.size() - offset_;
      nlmsghdr hdr{};
      if (left >= sizeof(hdr)) std::memcpy(&hdr, pending_.data() + offset_, sizeof(hdr));
      size_t len = std::min(NLMSG_ALIGN(size_t{hdr.nlmsg_len}), left);
      if (left < sizeof(hdr) || hdr.nlmsg_len < sizeof(hdr) || hdr.nlmsg_len > left) {
        // A corrupt recording: hand the rest over as it is and let the
        // decoder say what is wrong, rather than trusting its lengths.
        if (out > 0) break;
        len = std::min(left, buffer.size());
      }
      if (out + len > buffer.size()) break;
      std::memcpy(buffer.data() + out, pending_.data() + offset_, len);
      out += len;
      offset_ += len;
    }
    if (out == 0 && offset_ < pending_.size()) {
      return MakeError(ErrorKind::kTruncated, "replay: message larger than receive buffer", ENOSPC);
    }
    return out;
  }

 private:
  // Walks the recorded messages; stops at the first one that does not fit so
  // a corrupt file reaches the decoder as-is.
  template <typename Fn>
  void ForEachMessage(Fn fn) {
    size_t off = 0;
    while (off + sizeof(nlmsghdr) <= pending_.size()) {
      nlmsghdr hdr;
      std::memcpy(&hdr, pending_.data() + off, sizeof(hdr));
      if (hdr.nlmsg_len < sizeof(nlmsghdr) || off + hdr.nlmsg_len > pending_.size()) {
        return;
      }
      fn(off, hdr);
      off += NLMSG_ALIGN(hdr.nlmsg_len);
    }
  }

  Status Append(const std::filesystem::path& path) {
    if (!std::filesystem::exists(path)) return OkStatus();
    auto bytes = ReadFile(path);
    if (!bytes.ok()) return bytes.error();
    pending_.insert(pending_.end(), bytes->begin(), bytes->end());
    return OkStatus();
  }

  // Cuts a recording's final NLMSG_DONE so the next one can follow it. A
  // corrupt recording is left whole: the decoder will say what is wrong.
  void DropTrailingDone() {
    size_t done_at = pending_.size();
    size_t end = 0;
    ForEachMessage([&](size_t off, const nlmsghdr& hdr) {
      done_at = hdr.nlmsg_type == NLMSG_DONE ? off : pending_.size();
      end = off + NLMSG_ALIGN(hdr.nlmsg_len);
    });
    if (done_at < pending_.size() && end >= pending_.size()) pending_.resize(done_at);
  }

  bool EndsWithDone() {
    bool done = false;
    ForEachMessage([&](size_t, const nlmsghdr& hdr) { done = hdr.nlmsg_type == NLMSG_DONE; });
    return done;
  }

  void AppendDone() {
    nlmsghdr done{};
    done.nlmsg_len = NLMSG_LENGTH(sizeof(int));
    done.nlmsg_type = NLMSG_DONE;
    done.nlmsg_flags = NLM_F_MULTI;
    const int status = 0;
    const size_t at = pending_.size();
    pending_.resize(at + NLMSG_ALIGN(done.nlmsg_len), 0);
    std::memcpy(pending_.data() + at, &done, sizeof(done));
    std::memcpy(pending_.data() + at + NLMSG_HDRLEN, &status, sizeof(status));
  }

  // Answers `request` as the kernel would: its seq, our port id, and records
  // of its type (recordings hold SOCK_DIAG_BY_FAMILY ones).
  void Restamp(const nlmsghdr& request) {
    ForEachMessage([&](size_t off, nlmsghdr hdr) {
      hdr.nlmsg_seq = request.nlmsg_seq;
      hdr.nlmsg_pid = kReplayPortId;
      if (hdr.nlmsg_type == SOCK_DIAG_BY_FAMILY) hdr.nlmsg_type = request.nlmsg_type;
      std::memcpy(pending_.data() + off, &hdr, sizeof(hdr));
    });
  }

  std::filesystem::path dir_;
  std::vector<uint8_t> pending_;
  size_t offset_ = 0;
};

}  // namespace

Result<std::unique_ptr<NetlinkTransport>> ReplayTransportFactory::Open() {
  if (!std::filesystem::is_directory(dir_)) {
    return MakeError(ErrorKind::kSystem, "replay directory " + dir_.string() + " not found", ENOENT);
  }
  return std::unique_ptr<NetlinkTransport>(std::make_unique<ReplayTransport>(dir_));
}

}  // namespace tcpstate
