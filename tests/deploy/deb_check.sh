#!/usr/bin/env bash
# deb_check.sh BUILD_DIR - build the Debian package with CPack (cmake/packaging.cmake) from an
# already built tree, unpack it into a throwaway root with dpkg-deb -x (no maintainer scripts
# run, nothing touches the host) and check it:
#   * control fields (name, version from CMakeLists.txt, shared-library Depends, conffiles,
#     postinst/prerm)
#   * the files: binary, systemd unit, sysusers file, /etc/default file, configuration, docs
#   * the unit reads /etc/default/tcpstate_exporter and starts the packaged binary with $ARGS
#   * /etc/default/tcpstate_exporter is valid sh that sets ARGS
#   * the unpacked binary runs from the throwaway root: --version and --config.check on the
#     unpacked configuration
# Exits 77 (skipped) when cpack or dpkg-deb is missing.
set -euo pipefail
build=$(cd "$1" && pwd)
for tool in cpack dpkg-deb dpkg-shlibdeps; do
  command -v "$tool" >/dev/null 2>&1 || { echo "deb_check: $tool not found, skipping"; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAILED: $*"; failures=$((failures + 1)); }

echo "+ cpack -G DEB"
(cd "$tmp" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/out" >"$tmp/cpack.log" 2>&1) \
  || { cat "$tmp/cpack.log"; echo "FAILED: cpack"; exit 1; }
debs=("$tmp"/out/*.deb)
[ ${#debs[@]} -eq 1 ] && [ -f "${debs[0]}" ] || { ls -l "$tmp/out"; echo "FAILED: expected one .deb"; exit 1; }
deb=${debs[0]}
echo "package: $(basename "$deb")"

version=$(sed -n 's/^project(tcpstate_exporter VERSION \([0-9.]*\).*/\1/p' "$(dirname "$0")/../../CMakeLists.txt")
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = tcpstate-exporter ] || fail "Package is '$(field Package)'"
[ "$(field Version)" = "$version" ] || fail "Version '$(field Version)' is not project VERSION $version"
depends=$(field Depends)
for lib in libc6 libmnl0 libyaml-cpp0.7 libspdlog1.10 libssl3; do
  case "$depends" in *"$lib"*) ;; *) fail "Depends lacks $lib: $depends" ;; esac
done

mkdir "$tmp/control" "$tmp/root"
dpkg-deb -e "$deb" "$tmp/control"
dpkg-deb -x "$deb" "$tmp/root"
for f in /etc/default/tcpstate_exporter /etc/tcpstate_exporter/tcpstate_exporter.yml; do
  grep -qx "$f" "$tmp/control/conffiles" 2>/dev/null || fail "$f is not a conffile"
done
for s in postinst prerm; do
  [ -x "$tmp/control/$s" ] || fail "no executable $s"
done

r=$tmp/root
for f in usr/bin/tcpstate_exporter usr/lib/systemd/system/tcpstate_exporter.service \
         usr/lib/sysusers.d/tcpstate_exporter.conf etc/default/tcpstate_exporter \
         etc/tcpstate_exporter/tcpstate_exporter.yml usr/share/doc/tcpstate_exporter/copyright \
         usr/share/doc/tcpstate_exporter/README.md; do
  [ -f "$r/$f" ] || fail "missing /$f"
done
[ -x "$r/usr/bin/tcpstate_exporter" ] || fail "/usr/bin/tcpstate_exporter is not executable"
if find "$r" -path "$r/usr/local*" | grep -q .; then fail "files under /usr/local"; fi
grep -q "Apache License" "$r/usr/share/doc/tcpstate_exporter/copyright" || fail "copyright is not the licence"

unit=$r/usr/lib/systemd/system/tcpstate_exporter.service
grep -qx 'EnvironmentFile=-/etc/default/tcpstate_exporter' "$unit" || fail "unit does not read /etc/default/tcpstate_exporter"
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
case "$exec_start" in
  "/usr/bin/tcpstate_exporter --config.file /etc/tcpstate_exporter/tcpstate_exporter.yml \$ARGS") ;;
  *) fail "ExecStart is '$exec_start'" ;;
esac
bin=${exec_start%% *}
[ -x "$r$bin" ] || fail "ExecStart's binary $bin is not in the package"

# The /etc/default file: valid sh, sets ARGS, only comments and assignments (Debian style).
(set -eu; . "$r/etc/default/tcpstate_exporter"; [ "${ARGS+set}" = set ]) || fail "/etc/default file does not set ARGS"
if grep -vE '^(#.*|[A-Z_]+=.*|)$' "$r/etc/default/tcpstate_exporter"; then fail "/etc/default file has more than assignments and comments"; fi

echo "+ $bin --version (from the unpacked root)"
"$r$bin" --version || fail "--version"
"$r$bin" --version 2>&1 | grep -q "$version" || fail "--version does not print $version"
echo "+ $bin --config.check on the unpacked configuration"
"$r$bin" --config "$r/etc/tcpstate_exporter/tcpstate_exporter.yml" --config.check || fail "--config.check"

if [ "$failures" -ne 0 ]; then echo "deb_check: $failures failure(s)"; exit 1; fi
echo "deb_check: OK"
