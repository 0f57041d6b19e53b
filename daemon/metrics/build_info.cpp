#include "metrics/build_info.h"

namespace tcpstate {

const BuildInfo& GetBuildInfo() {
  static const BuildInfo info {
    TCPSTATE_VERSION, TCPSTATE_REVISION,
#if defined(__clang__)
        "clang-" __clang_version__
#elif defined(__GNUC__)
        "gcc-" __VERSION__
#else
        "unknown"
#endif
  };
  return info;
}

}  // namespace tcpstate
