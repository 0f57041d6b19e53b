// Strict YAML reading shared by the configuration and web-config loaders:
// every failure names the key path ("processes.groups[1].match: ...").
#pragma once

#include <yaml-cpp/yaml.h>

#include <initializer_list>
#include <string>

namespace tcpstate {

// Thrown while a loader walks a document; each loader turns it into an Error
// at its boundary.
struct YamlKeyError {
  std::string message;
};

[[noreturn]] void FailAt(const std::string& path, const std::string& what);

// "a.b" from "a" and "b"; "b" at the top level.
std::string JoinKey(const std::string& path, const std::string& key);

// A mapping with string keys, each at most once and, when `known` is not
// empty, each one of `known`.
void ExpectMap(const YAML::Node& node, const std::string& path,
               std::initializer_list<const char*> known);

std::string AsString(const YAML::Node& node, const std::string& path);
bool AsBool(const YAML::Node& node, const std::string& path);

}  // namespace tcpstate
