#include "config/yaml_checks.h"

#include <fstream>
#include <iterator>
#include <set>

namespace tcpstate {
namespace {

// "a.b" from "a" and "b"; "b" at the top level.
std::string JoinKey(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

}  // namespace

void Fail(const std::string& path, const std::string& what) {
  const std::string key = path.empty() ? std::string(kTopLevelKey) : path;
  throw YamlKeyError{key, key + ": " + what};
}

void ExpectMap(const YAML::Node& node, const std::string& path,
               std::initializer_list<const char*> known) {
  if (!node.IsMap()) Fail(path, "must be a mapping");
  const std::set<std::string> allowed(known.begin(), known.end());
  std::set<std::string> seen;
  for (const auto& item : node) {
    if (!item.first.IsScalar()) Fail(path, "keys must be strings");
    const std::string key = item.first.Scalar();
    if (known.size() > 0 && !allowed.contains(key)) {
      std::string list;
      for (const char* k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      Fail(JoinKey(path, key), "unknown key (known keys here: " + list + ")");
    }
    if (!seen.insert(key).second) Fail(JoinKey(path, key), "appears twice");
  }
}

std::string AsString(const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar()) Fail(path, "must be a string");
  return node.Scalar();
}

bool AsBool(const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar()) Fail(path, "must be true or false");
  const std::string& s = node.Scalar();
  if (s == "true" || s == "True" || s == "TRUE" || s == "yes") return true;
  if (s == "false" || s == "False" || s == "FALSE" || s == "no") return false;
  Fail(path, "must be true or false, got '" + s + "'");
}

Error YamlSyntaxError(const YAML::Exception& e) {
  return MakeError(ErrorKind::kConfigSyntax, std::string(kYamlSyntaxErrorPrefix) + " at line " +
                                                 std::to_string(e.mark.line + 1) + ", column " +
                                                 std::to_string(e.mark.column + 1) + ": " + e.msg);
}

Result<std::string> ReadYamlFile(const std::string& path, std::string_view what) {
  std::ifstream in(path);
  if (!in) {
    Error error =
        ErrnoError(errno, std::string(kCannotReadPrefix) + std::string(what) + " file " + path);
    error.kind = ErrorKind::kConfigUnreadable;
    return error;
  }
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

Error InYamlFile(const std::string& path, const Error& error) {
  Error in_file = error;
  in_file.message = path + ": " + error.message;
  return in_file;
}

}  // namespace tcpstate
