// Strict YAML reading shared by the configuration and web-config loaders:
// every failure names the key path ("processes.groups[1].match: ...") in its
// message and in Error::key; the kind says unreadable, syntax or invalid.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <initializer_list>
#include <string>
#include <string_view>

#include "common/result.h"

namespace tcpstate {

// How the loaders' messages start: "cannot read <what> file <path>: ..."
// (the file cannot be opened), "YAML syntax error at line ...", and the key
// path of a value at the top of the document. For people: code reads the
// kind and the key.
inline constexpr std::string_view kCannotReadPrefix = "cannot read ";
inline constexpr std::string_view kYamlSyntaxErrorPrefix = "YAML syntax error";
inline constexpr std::string_view kTopLevelKey = "(top level)";

// Thrown while a loader walks a document; ParseYaml turns it into an Error
// of kind kConfigInvalid.
struct YamlKeyError {
  std::string key;      // the key path, empty when the value has none
  std::string message;  // "<key path>: <what>"
};

// Throws YamlKeyError "<path>: <what>".
[[noreturn]] void Fail(const std::string& path, const std::string& what);

// A mapping with string keys, each at most once and, when `known` is not
// empty, each one of `known`.
void ExpectMap(const YAML::Node& node, const std::string& path,
               std::initializer_list<const char*> known);

std::string AsString(const YAML::Node& node, const std::string& path);
bool AsBool(const YAML::Node& node, const std::string& path);

Error YamlSyntaxError(const YAML::Exception& e);

// `load(root)` on the parsed `yaml`; a syntax error or a YamlKeyError becomes
// an Error.
template <typename Load>
auto ParseYaml(std::string_view yaml, Load load) -> Result<decltype(load(YAML::Node()))> {
  try {
    return load(YAML::Load(std::string(yaml)));
  } catch (const YamlKeyError& e) {
    Error error = MakeError(ErrorKind::kConfigInvalid, e.message, EINVAL);
    error.key = e.key;
    return error;
  } catch (const YAML::Exception& e) {
    return YamlSyntaxError(e);
  }
}

// The contents of the `what` ("config", "web config") file at `path`.
Result<std::string> ReadYamlFile(const std::string& path, std::string_view what);

// An error in the file at `path`: "<path>: <message>", kind and key kept.
Error InYamlFile(const std::string& path, const Error& error);

}  // namespace tcpstate
