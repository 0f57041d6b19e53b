// Where the poller hands each snapshot it publishes. metrics/ implements it
// (render and serialize once per snapshot); tests record what arrives.
//
// Thread-safety: implementations must accept Publish from several threads
// (the poll thread after each poll, a reload's thread with a new reload
// status); the poller never publishes two snapshots at once.
#pragma once

#include <memory>

#include "snapshot/snapshot.h"

namespace tcpstate {

class SnapshotSink {
 public:
  virtual ~SnapshotSink() = default;
  // `snapshot` is immutable from here on; the sink may keep it.
  virtual void Publish(std::shared_ptr<const Snapshot> snapshot) = 0;
};

}  // namespace tcpstate
