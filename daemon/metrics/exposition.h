// What the HTTP layer serves on /metrics: the text exposition of the latest
// snapshot, serialized and gzip-compressed once per poll.
//
// Thread-safety: ExpositionSource::Prepared is called from every HTTP worker
// at once and must be safe to call concurrently with publishing.
#pragma once

#include <memory>
#include <string>

namespace tcpstate {

// One published exposition; never changed once published.
struct Exposition {
  std::string text;  // text format 0.0.4
  std::string gzip;  // the same text gzip-compressed; empty if compression failed
};

class ExpositionSource {
 public:
  virtual ~ExpositionSource() = default;
  // Null until something was published. The caller keeps its own reference
  // while it writes; a concurrent publish does not wait for it.
  virtual std::shared_ptr<const Exposition> Prepared() const = 0;
};

}  // namespace tcpstate
