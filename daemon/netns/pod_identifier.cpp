#include "netns/pod_identifier.h"

#include <dirent.h>

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <thread>

#include "common/unique_dir.h"
#include "common/utf8.h"

namespace tcpstate {
namespace {

// A node runs at most a few hundred pods; log directories of deleted pods
// linger until the kubelet collects them.
constexpr size_t kMaxKubeletEntries = 8192;
constexpr size_t kMaxNameFile = 256;

// /proc/<pid>/cgroup is written by the kernel: bounded, but an ordinary read.
std::string ReadCgroupFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "";
  std::string content(16384, '\0');
  in.read(content.data(), static_cast<std::streamsize>(content.size()));
  content.resize(static_cast<size_t>(in.gcount()));
  return content;
}

std::string FirstLine(std::string_view text) {
  text = text.substr(0, text.find('\n'));
  while (!text.empty() && (text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
  return std::string(text);
}

bool IsDnsLabelChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

bool IsDnsLabel(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max || s.front() == '-' || s.back() == '-') return false;
  for (char c : s) {
    if (!IsDnsLabelChar(c)) return false;
  }
  return true;
}

bool IsDnsSubdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (start <= s.size()) {
    size_t dot = s.find('.', start);
    if (dot == std::string_view::npos) dot = s.size();
    if (!IsDnsLabel(s.substr(start, dot - start), 63)) return false;
    start = dot + 1;
  }
  return true;
}

bool IsUid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    const char c = s[i];
    if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

PodSuppliedNames ReadPodSuppliedNames(const std::string& proc_root, int32_t pid) {
  PodSuppliedNames out;
  const UniqueFd root = OpenPodRoot(proc_root, pid);
  PodFile hostname = ReadPodFile(root, "etc/hostname", kMaxNameFile);
  out.name_problem = hostname.problem;
  if (hostname.ok()) out.name = SanitizeLabelValue(FirstLine(hostname.content), 253);
  // In-root resolution follows the image's /var/run -> /run link inside the pod.
  PodFile ns =
      ReadPodFile(root, "var/run/secrets/kubernetes.io/serviceaccount/namespace", kMaxNameFile);
  out.ns_problem = ns.problem;
  if (ns.ok()) out.ns = SanitizeLabelValue(FirstLine(ns.content), 63);
  return out;
}

bool ParseKubeletPodLogDir(std::string_view entry, std::string* ns, std::string* name,
                           std::string* uid) {
  // Neither a namespace nor a pod name may hold '_': the split is unambiguous.
  const size_t first = entry.find('_');
  const size_t last = entry.rfind('_');
  if (first == std::string_view::npos || first == last) return false;
  const std::string_view n = entry.substr(0, first);
  const std::string_view p = entry.substr(first + 1, last - first - 1);
  const std::string_view u = entry.substr(last + 1);
  if (!IsDnsLabel(n, 63) || !IsDnsSubdomain(p) || !IsUid(u)) return false;
  ns->assign(n);
  name->assign(p);
  uid->assign(u);
  return true;
}

// One background read of a pod's files; the thread and the poller share it.
struct PodIdentifier::Job {
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
  PodSuppliedNames result;
};

PodIdentifier::PodIdentifier(Options options, SuppliedNamesReader read_files)
    : options_(std::move(options)), read_files_(std::move(read_files)) {
  if (!read_files_) {
    read_files_ = [proc_root = options_.proc_root](int32_t pid) {
      return ReadPodSuppliedNames(proc_root, pid);
    };
  }
}

// Background reads still running keep their Job alive; they are detached.
PodIdentifier::~PodIdentifier() = default;

void PodIdentifier::BeginPoll() {
  listed_this_poll_ = false;
  budget_end_ = std::chrono::steady_clock::now() + options_.wait_budget;
}

bool PodIdentifier::Identify(NetnsInfo& info) {
  if (info.host) return true;
  if (!info.pod.found()) {
    for (int32_t pid : info.pids) {
      PodIdentity pod = ParsePodIdentity(
          ReadCgroupFile(options_.proc_root + "/" + std::to_string(pid) + "/cgroup"));
      if (pod.found()) {
        info.pod = pod;
        break;
      }
    }
  }
  if (!info.pod.found()) return true;  // not a pod: nothing more to learn
  switch (options_.source) {
    case PodNameSource::kKubelet:
      return NamesFromKubelet(info);
    case PodNameSource::kPod:
      return NamesFromPod(info);
    case PodNameSource::kNone:
      return true;
  }
  return true;
}

bool PodIdentifier::NamesFromKubelet(NetnsInfo& info) {
  auto it = kubelet_pods_.find(info.pod.pod_uid);
  if (it == kubelet_pods_.end() && !listed_this_poll_) {
    // A new pod's directory may appear after its sandbox: list again, at most
    // once per poll.
    listed_this_poll_ = true;
    kubelet_pods_.clear();
    const UniqueDir dir = OpenDir(options_.kubelet_pod_logs_dir.c_str());
    if (!dir) {
      Fail(PodIdentityFailure::kKubeletDir);
    } else {
      size_t entries = 0;
      while (dirent* entry = ::readdir(dir.get())) {
        if (++entries > kMaxKubeletEntries) break;
        std::string ns, name, uid;
        if (ParseKubeletPodLogDir(entry->d_name, &ns, &name, &uid)) {
          kubelet_pods_[uid] = {std::move(ns), std::move(name)};
        }
      }
    }
    it = kubelet_pods_.find(info.pod.pod_uid);
  }
  if (it == kubelet_pods_.end()) {
    Fail(PodIdentityFailure::kKubeletUnknown);
    return false;
  }
  info.pod_namespace = it->second.first;
  info.pod_name = it->second.second;
  return true;
}

bool PodIdentifier::NamesFromPod(NetnsInfo& info) {
  auto& job = jobs_[info.inode];
  if (!job) {
    size_t running = 0;
    for (const auto& [inode, other] : jobs_) {
      if (other == nullptr) continue;
      std::lock_guard lock(other->mutex);
      running += other->done ? 0 : 1;
    }
    if (running >= options_.max_in_flight || info.pids.empty()) {
      jobs_.erase(info.inode);
      Fail(PodIdentityFailure::kBusy);
      return false;
    }
    job = std::make_shared<Job>();
    // Detached: a read stuck in the kernel (a FUSE lookup) costs this one
    // thread, never the poll; max_in_flight bounds how many may be stuck.
    std::thread([job, read = read_files_, pid = info.pids.front()] {
      PodSuppliedNames names = read(pid);
      std::lock_guard lock(job->mutex);
      job->result = std::move(names);
      job->done = true;
      job->done_cv.notify_all();
    }).detach();
  }
  std::unique_lock lock(job->mutex);
  if (!job->done) job->done_cv.wait_until(lock, budget_end_, [&] { return job->done; });
  if (!job->done) {
    Fail(PodIdentityFailure::kTimeout);
    return false;
  }
  const PodSuppliedNames result = job->result;
  lock.unlock();
  jobs_.erase(info.inode);
  for (PodFileProblem problem : {result.name_problem, result.ns_problem}) {
    if (problem != PodFileProblem::kNone) Fail(PodIdentityFailureOf(problem));
  }
  info.pod_name = result.name;
  info.pod_namespace = result.ns;
  return true;
}

void PodIdentifier::Retain(const std::set<uint64_t>& present) {
  uint64_t in_flight = 0;
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    bool done = false;
    {
      std::lock_guard lock(it->second->mutex);
      done = it->second->done;
    }
    if (done && !present.contains(it->first)) {
      it = jobs_.erase(it);
    } else {
      in_flight += done ? 0 : 1;
      ++it;
    }
  }
  stats_.reads_in_flight = in_flight;
}

}  // namespace tcpstate
