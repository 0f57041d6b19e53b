#!/usr/bin/env python3
"""The build enforces the data path: see tests/architecture/CMakeLists.txt.

Usage: check_layers.py --source-dir S --build-dir B --layers modules.txt PROBE...
PROBE is target:module:header:expect, expect "fails" or "builds".
"""
import argparse
import pathlib
import re
import subprocess
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/[^"]+"', re.M)
DOC_BLOCK = re.compile(r"<!-- modules:begin -->\s*```\s*\n(.*?)```\s*<!-- modules:end -->", re.S)


def read_layers(path):
    direct, public = {}, {}
    for line in pathlib.Path(path).read_text().splitlines():
        if not line.strip():
            continue
        module, rest = line.split(":", 1)
        deps, pub = rest.split("|")
        strip = lambda s: {d[len("tcpstate_"):] for d in s.split() if d.startswith("tcpstate_")}
        direct[module.strip()] = strip(deps)
        public[module.strip()] = strip(pub)
    return direct, public


def reachable(module, direct, public):
    """Modules whose headers a file of `module` can include: its own, its
    direct dependencies', and what those pass on PUBLIC, transitively."""
    seen = {module}
    stack = list(direct[module])
    while stack:
        dep = stack.pop()
        if dep in seen:
            continue
        seen.add(dep)
        stack.extend(public[dep])
    return seen


def check_includes(source_dir, direct, public):
    errors = []
    daemon = pathlib.Path(source_dir) / "daemon"
    for module in direct:
        allowed = reachable(module, direct, public)
        for path in sorted((daemon / module).glob("*.[hc]*")):
            for included in INCLUDE.findall(path.read_text()):
                if included in direct and included not in allowed:
                    errors.append(f"{path.relative_to(source_dir)} includes {included}/ "
                                  f"but module {module} does not link tcpstate_{included}")
    return errors


def check_docs(source_dir, direct):
    doc = pathlib.Path(source_dir) / "docs" / "architecture.md"
    match = DOC_BLOCK.search(doc.read_text()) if doc.exists() else None
    if not match:
        return [f"{doc}: no module graph between <!-- modules:begin --> and <!-- modules:end -->"]
    documented = {}
    for line in match.group(1).splitlines():
        if ":" not in line:
            continue
        module, deps = line.split(":", 1)
        documented[module.strip()] = {d.strip() for d in deps.split("#")[0].split(",") if d.strip()}
    errors = []
    for module in sorted(set(direct) | set(documented)):
        if documented.get(module) != direct.get(module):
            errors.append(f"docs/architecture.md says {module}: {sorted(documented.get(module, []))}, "
                          f"daemon/CMakeLists.txt says {sorted(direct.get(module, []))}")
    return errors


def check_probes(build_dir, probes):
    errors = []
    for probe in probes:
        target, module, header, expect = probe.split(":")
        run = subprocess.run(["cmake", "--build", build_dir, "--target", target],
                             capture_output=True, text=True, timeout=240)
        output = run.stdout + run.stderr
        if expect == "builds":
            ok = run.returncode == 0
            what = "must compile"
        else:
            ok = run.returncode != 0 and header in output and "No such file" in output
            what = "must fail with 'No such file'"
        print(f"{'ok  ' if ok else 'FAIL'} {module} including {header}: {what}")
        if not ok:
            errors.append(f"probe {target}: {module} including {header} {what}; got:\n"
                          + output[-2000:])
    return errors


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--layers", required=True)
    parser.add_argument("probes", nargs="*")
    args = parser.parse_args()
    direct, public = read_layers(args.layers)
    errors = check_includes(args.source_dir, direct, public)
    errors += check_docs(args.source_dir, direct)
    errors += check_probes(args.build_dir, args.probes)
    for error in errors:
        print("error:", error, file=sys.stderr)
    print(f"{len(direct)} modules, {len(args.probes)} probes, {len(errors)} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
