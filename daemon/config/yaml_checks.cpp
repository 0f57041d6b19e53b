#include "config/yaml_checks.h"

#include <set>

namespace tcpstate {

void FailAt(const std::string& path, const std::string& what) {
  throw YamlKeyError{(path.empty() ? std::string("(top level)") : path) + ": " + what};
}

std::string JoinKey(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

void ExpectMap(const YAML::Node& node, const std::string& path,
               std::initializer_list<const char*> known) {
  if (!node.IsMap()) FailAt(path, "must be a mapping");
  const std::set<std::string> allowed(known.begin(), known.end());
  std::set<std::string> seen;
  for (const auto& item : node) {
    if (!item.first.IsScalar()) FailAt(path, "keys must be strings");
    const std::string key = item.first.Scalar();
    if (known.size() > 0 && !allowed.contains(key)) {
      std::string list;
      for (const char* k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      FailAt(JoinKey(path, key), "unknown key (known keys here: " + list + ")");
    }
    if (!seen.insert(key).second) FailAt(JoinKey(path, key), "appears twice");
  }
}

std::string AsString(const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar()) FailAt(path, "must be a string");
  return node.Scalar();
}

bool AsBool(const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar()) FailAt(path, "must be true or false");
  const std::string& s = node.Scalar();
  if (s == "true" || s == "True" || s == "TRUE" || s == "yes") return true;
  if (s == "false" || s == "False" || s == "FALSE" || s == "no") return false;
  FailAt(path, "must be true or false, got '" + s + "'");
}

}  // namespace tcpstate
