// The one place that records each source's success and duration for
// tcpstate_source_up / tcpstate_source_duration_seconds, as node_exporter's
// collector framework does: sources only return a Status. A source read in
// several namespaces is up when every read succeeded; its duration is the sum.
//
// Thread-safety: one thread at a time (the poll thread, or the namespace
// thread while the poll thread waits for it).
#pragma once

#include <chrono>
#include <utility>

#include "common/result.h"
#include "snapshot/snapshot.h"

namespace tcpstate {

class SourceRecorder {
 public:
  using Sources = std::array<std::optional<SourceStatus>, kSourceCount>;

  // Start of a poll: each enabled source is up with no time spent until a
  // read says otherwise; the others publish no series.
  void BeginPoll(std::initializer_list<Source> enabled) {
    sources_ = {};
    for (Source source : enabled) sources_[Index(source)] = SourceStatus{true, 0};
  }

  // Runs `read` (returning a Status) and records its outcome and time.
  template <typename Read>
  Status Run(Source source, Read&& read) {
    const auto start = std::chrono::steady_clock::now();
    Status status = std::forward<Read>(read)();
    Record(source, status.ok(),
           std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return status;
  }

  void Record(Source source, bool up, double seconds) {
    auto& status = sources_[Index(source)];
    if (!status) status = SourceStatus{true, 0};
    status->up = status->up && up;
    status->duration_seconds += seconds;
  }

  const Sources& sources() const { return sources_; }

 private:
  static size_t Index(Source source) { return static_cast<size_t>(source); }
  Sources sources_;
};

}  // namespace tcpstate
