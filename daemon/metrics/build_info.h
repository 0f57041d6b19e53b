#pragma once

namespace tcpstate {

struct BuildInfo {
  const char* version;
  const char* revision;
  const char* compiler;
};

const BuildInfo& GetBuildInfo();

}  // namespace tcpstate
