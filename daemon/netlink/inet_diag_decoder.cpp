#include "netlink/inet_diag_decoder.h"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>

#include <array>
#include <cstring>
#include <limits>
#include <string>

namespace tcpstate {

static_assert(SOCK_DIAG_BY_FAMILY == DumpIdentity{}.record_type);
static_assert(TCPDIAG_GETSOCK == 18);
namespace {

Error Failure(ErrorKind kind, std::string message, int errnum = 0) {
  return MakeError(kind, std::move(message), errnum);
}

// strerror of a negative errno; INT_MIN cannot be negated.
std::string ErrnoText(int status) {
  if (status == std::numeric_limits<int>::min()) return "error " + std::to_string(status);
  return std::strerror(-status);
}

// Reads a POD out of possibly unaligned bytes.
template <typename T>
T Load(const uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

// Attributes follow inet_diag_msg; each one must lie inside the message. The
// one we read: INET_DIAG_SKMEMINFO, an array of u32 indexed by SK_MEMINFO_*
// (linux/sock_diag.h); a shorter one (older kernel) leaves drops at 0.
bool AttributesWellFormed(const uint8_t* p, size_t len, SocketRecord& record) {
  while (len > 0) {
    if (len < sizeof(nlattr)) return false;
    const auto attr = Load<nlattr>(p);
    if (attr.nla_len < sizeof(nlattr) || attr.nla_len > len) return false;
    if ((attr.nla_type & NLA_TYPE_MASK) == INET_DIAG_SKMEMINFO &&
        attr.nla_len >= NLA_HDRLEN + (SK_MEMINFO_DROPS + 1) * sizeof(uint32_t)) {
      record.drops = Load<uint32_t>(p + NLA_HDRLEN + SK_MEMINFO_DROPS * sizeof(uint32_t));
    }
    const size_t step = NLA_ALIGN(attr.nla_len);
    if (step >= len) return true;
    p += step;
    len -= step;
  }
  return true;
}

Result<SocketRecord> DecodeInetDiagMsg(const uint8_t* payload, size_t len) {
  if (len < sizeof(inet_diag_msg)) {
    return Failure(ErrorKind::kTruncated, "inet_diag message shorter than struct inet_diag_msg");
  }
  const auto msg = Load<inet_diag_msg>(payload);
  if (msg.idiag_family != AF_INET && msg.idiag_family != AF_INET6) {
    return Failure(ErrorKind::kInvalid,
                   "inet_diag message with address family " + std::to_string(msg.idiag_family));
  }
  SocketRecord record;
  if (!AttributesWellFormed(
          payload + NLMSG_ALIGN(sizeof(inet_diag_msg)),
          len > NLMSG_ALIGN(sizeof(inet_diag_msg)) ? len - NLMSG_ALIGN(sizeof(inet_diag_msg)) : 0,
          record)) {
    return Failure(ErrorKind::kInvalid, "inet_diag attribute overruns message");
  }
  record.family = msg.idiag_family;
  record.state = msg.idiag_state;
  record.local_port = ntohs(msg.id.idiag_sport);
  record.remote_port = ntohs(msg.id.idiag_dport);
  const size_t addr_len = msg.idiag_family == AF_INET ? 4 : 16;
  std::memcpy(record.local_addr.data(), msg.id.idiag_src, addr_len);
  std::memcpy(record.remote_addr.data(), msg.id.idiag_dst, addr_len);
  record.cookie = static_cast<uint64_t>(msg.id.idiag_cookie[1]) << 32 | msg.id.idiag_cookie[0];
  record.inode = msg.idiag_inode;
  record.uid = msg.idiag_uid;
  record.rqueue = msg.idiag_rqueue;
  record.wqueue = msg.idiag_wqueue;
  return record;
}

// Hands records to the sink in runs (see RecordSink::OnRecords), in order.
class RecordBatch {
 public:
  explicit RecordBatch(RecordSink& sink) : sink_(sink) {}
  void Add(const SocketRecord& record) {
    records_[size_++] = record;
    if (size_ == records_.size()) Flush();
  }
  void Flush() {
    if (size_ > 0) sink_.OnRecords(std::span<const SocketRecord>(records_.data(), size_));
    size_ = 0;
  }

 private:
  RecordSink& sink_;
  std::array<SocketRecord, 64> records_;
  size_t size_ = 0;
};

Result<ChunkStatus> DecodeInto(std::span<const uint8_t> datagram, const DumpIdentity& identity,
                               RecordBatch& sink, ChunkStats& stats) {
  const uint8_t* p = datagram.data();
  size_t remaining = datagram.size();
  if (remaining == 0) {
    return Failure(ErrorKind::kTruncated, "empty datagram before NLMSG_DONE");
  }
  while (remaining > 0) {
    if (remaining < sizeof(nlmsghdr)) {
      return Failure(ErrorKind::kTruncated, "datagram ends inside a netlink header");
    }
    const auto hdr = Load<nlmsghdr>(p);
    if (hdr.nlmsg_len < sizeof(nlmsghdr)) {
      return Failure(ErrorKind::kInvalid, "netlink message length " +
                                              std::to_string(hdr.nlmsg_len) + " below header size");
    }
    if (hdr.nlmsg_len > remaining) {
      return Failure(ErrorKind::kTruncated, "netlink message of " + std::to_string(hdr.nlmsg_len) +
                                                " bytes in " + std::to_string(remaining) +
                                                " remaining");
    }
    if (hdr.nlmsg_seq != identity.seq || hdr.nlmsg_pid != identity.portid) {
      return Failure(ErrorKind::kUnexpected, "reply seq " + std::to_string(hdr.nlmsg_seq) +
                                                 " portid " + std::to_string(hdr.nlmsg_pid) +
                                                 ", expected seq " + std::to_string(identity.seq) +
                                                 " portid " + std::to_string(identity.portid));
    }
    if (hdr.nlmsg_flags & NLM_F_DUMP_INTR) stats.interrupted = true;

    const uint8_t* payload = p + NLMSG_HDRLEN;
    const size_t payload_len = hdr.nlmsg_len > NLMSG_HDRLEN ? hdr.nlmsg_len - NLMSG_HDRLEN : 0;
    switch (hdr.nlmsg_type) {
      case NLMSG_DONE: {
        // The kernel puts the dump's final status in DONE; libmnl's default
        // handler ignores it, which would turn a failed dump into an empty one.
        if (payload_len >= sizeof(int)) {
          const int status = Load<int>(payload);
          if (status < 0) {
            return Failure(ErrorKind::kKernelDoneError,
                           std::string("dump failed: NLMSG_DONE carries ") + ErrnoText(status),
                           status == std::numeric_limits<int>::min() ? 0 : -status);
          }
        }
        return ChunkStatus::kDone;
      }
      case NLMSG_ERROR: {
        if (payload_len < sizeof(int)) {
          return Failure(ErrorKind::kTruncated, "NLMSG_ERROR without error code");
        }
        const int status = Load<int>(payload);
        if (status != 0) {
          return Failure(ErrorKind::kKernelError,
                         std::string("kernel answered NLMSG_ERROR: ") + ErrnoText(status),
                         status == std::numeric_limits<int>::min() ? 0 : -status);
        }
        break;  // An ACK: nothing to decode.
      }
      case NLMSG_NOOP:
        break;
      case NLMSG_OVERRUN:
        return Failure(ErrorKind::kInvalid, "NLMSG_OVERRUN: data was lost");
      default: {
        if (hdr.nlmsg_type != identity.record_type) {
          return Failure(ErrorKind::kInvalid,
                         "unexpected netlink message type " + std::to_string(hdr.nlmsg_type));
        }
        auto record = DecodeInetDiagMsg(payload, payload_len);
        if (!record.ok()) return record.error();
        ++stats.records;
        sink.Add(*record);
        break;
      }
    }
    // The last message of a datagram may lack its alignment padding.
    const size_t step = NLMSG_ALIGN(hdr.nlmsg_len);
    if (step >= remaining) break;
    p += step;
    remaining -= step;
  }
  return ChunkStatus::kMore;
}

}  // namespace

Result<ChunkStatus> DecodeDumpChunk(std::span<const uint8_t> datagram, const DumpIdentity& identity,
                                    RecordSink& sink, ChunkStats& stats) {
  // Records decoded before a failure still reach the sink, as they did one
  // by one: the caller discards the attempt.
  RecordBatch batch(sink);
  auto status = DecodeInto(datagram, identity, batch, stats);
  batch.Flush();
  return status;
}

}  // namespace tcpstate
