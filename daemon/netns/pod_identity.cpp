#include "netns/pod_identity.h"

#include <cctype>

namespace tcpstate {
namespace {

bool IsUidChar(char c) {
  return std::isxdigit(static_cast<unsigned char>(c)) || c == '-' || c == '_';
}

// "pod<uid>" inside one path component; 36 characters with - or _ separators.
bool ExtractUid(std::string_view component, std::string* uid) {
  size_t at = component.find("pod");
  while (at != std::string_view::npos) {
    std::string_view rest = component.substr(at + 3);
    if (rest.size() >= 36) {
      std::string_view candidate = rest.substr(0, 36);
      bool ok = true;
      for (size_t i = 0; i < candidate.size(); ++i) {
        const bool separator = i == 8 || i == 13 || i == 18 || i == 23;
        const char c = candidate[i];
        if (separator ? (c != '-' && c != '_') : !std::isxdigit(static_cast<unsigned char>(c))) {
          ok = false;
          break;
        }
      }
      if (ok && (rest.size() == 36 || !IsUidChar(rest[36]))) {
        uid->assign(candidate);
        for (char& c : *uid) {
          if (c == '_') c = '-';  // the systemd driver escapes dashes
        }
        return true;
      }
    }
    at = component.find("pod", at + 3);
  }
  return false;
}

std::string ContainerIdFrom(std::string_view component) {
  for (std::string_view suffix : {".scope"}) {
    if (component.size() > suffix.size() &&
        component.substr(component.size() - suffix.size()) == suffix) {
      component.remove_suffix(suffix.size());
    }
  }
  const size_t dash = component.rfind('-');
  if (dash != std::string_view::npos) component = component.substr(dash + 1);
  // Container ids are long hex strings; anything else is not one.
  if (component.size() < 12) return "";
  for (char c : component) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return "";
  }
  return std::string(component);
}

}  // namespace

PodIdentity ParsePodIdentity(std::string_view cgroup_file) {
  PodIdentity identity;
  size_t line_start = 0;
  while (line_start < cgroup_file.size() && !identity.found()) {
    size_t line_end = cgroup_file.find('\n', line_start);
    if (line_end == std::string_view::npos) line_end = cgroup_file.size();
    std::string_view line = cgroup_file.substr(line_start, line_end - line_start);
    line_start = line_end + 1;
    // "hierarchy-ID:controllers:path"
    const size_t colon = line.find(':', line.find(':') + 1);
    if (colon == std::string_view::npos) continue;
    std::string_view path = line.substr(colon + 1);
    if (path.find("kubepods") == std::string_view::npos) continue;
    size_t pos = 0;
    bool after_pod = false;
    while (pos <= path.size()) {
      size_t end = path.find('/', pos);
      if (end == std::string_view::npos) end = path.size();
      std::string_view component = path.substr(pos, end - pos);
      if (!after_pod && ExtractUid(component, &identity.pod_uid)) {
        after_pod = true;
      } else if (after_pod && !component.empty()) {
        // The container is the kubelet's level right below the pod. Deeper
        // cgroups are the container's own (with a delegated hierarchy it may
        // create any), so they may not pose as a container or another pod.
        identity.container_id = ContainerIdFrom(component);
        break;
      }
      pos = end + 1;
    }
  }
  return identity;
}

}  // namespace tcpstate
