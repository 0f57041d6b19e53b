// Decodes the datagrams of a sock_diag dump into SocketRecords. Pure: bytes
// in, records out, every length checked; the transport lives elsewhere.
#pragma once

#include <cstdint>
#include <span>

#include "common/result.h"
#include "netlink/socket_record.h"

namespace tcpstate {

class RecordSink {
 public:
  virtual ~RecordSink() = default;
  virtual void OnRecord(const SocketRecord& record) = 0;
};

// What a reply must carry to belong to our request.
struct DumpIdentity {
  uint32_t seq = 0;
  uint32_t portid = 0;
  // Records carry the request's type: SOCK_DIAG_BY_FAMILY (20,
  // linux/sock_diag.h), or TCPDIAG_GETSOCK (18, linux/inet_diag.h) for the
  // legacy request.
  uint16_t record_type = 20;
};

enum class ChunkStatus { kMore, kDone };

struct ChunkStats {
  uint64_t records = 0;
  // The kernel set NLM_F_DUMP_INTR: the table changed under the dump.
  bool interrupted = false;
};

// Error codes carried in Error::code for decoder failures that are not errno
// values; the poller maps them to the `reason` label of the error counter.
enum DecodeFailure : int {
  kDecodeTruncated = -1000,
  kDecodeMalformed = -1001,
  kDecodeSequence = -1002,
  kDecodeNlmsgError = -1003,
  kDecodeDoneError = -1004,
};

// Decodes one datagram. Returns kDone once NLMSG_DONE was seen. An error
// inside NLMSG_DONE or an NLMSG_ERROR fails the dump.
Result<ChunkStatus> DecodeDumpChunk(std::span<const uint8_t> datagram, const DumpIdentity& identity,
                                    RecordSink& sink, ChunkStats& stats);

}  // namespace tcpstate
