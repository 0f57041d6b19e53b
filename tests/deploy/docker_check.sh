#!/usr/bin/env bash
# docker_check.sh - check deploy/docker/Dockerfile without a Docker engine.
#
#   1. structure: two stages on debian:bookworm-slim, Release build without tests, final stage
#      non-root, EXPOSE 9930, ENTRYPOINT with --config, files it copies exist
#   2. every package either stage installs exists in Debian 12 (apt-cache policy)
#   3. the builder stage's cmake command (taken from the Dockerfile itself, /src and /build
#      mapped to this checkout and a scratch directory) builds the exporter on this Debian 12
#      host, which has the builder's -dev packages installed; and the build used nothing this
#      host has that the builder stage would not: every header the compiler read (the .d
#      dependency files), every library linked and every file cmake found (CMakeCache.txt)
#      belongs (dpkg -S) to a package in the dependency closure of the builder's packages or
#      of the base image
#   4. every shared library the binary needs (readelf NEEDED, resolved by ldd) belongs to a
#      runtime package the final stage installs, or to the base image (the Essential packages
#      and apt, with their dependencies); every runtime package listed is needed; every library
#      ldd resolves comes from the dependency closure of those packages
#   5. the built binary runs: --version, --config.check on config/tcpstate_exporter.yml and on
#      the Kubernetes copy deploy/kubernetes/base/tcpstate_exporter.yml
#
# Usage: tests/deploy/docker_check.sh [--dockerfile FILE] [--build-dir DIR]
#   --build-dir DIR  build there and keep it (incremental re-runs); default: a temporary
#                    directory, removed at exit
# Exit status: 0 all checks passed, 1 a check failed, 77 not a Debian 12 host (skipped).

set -uo pipefail

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
root=$(CDPATH='' cd -- "$here/../.." && pwd)
dockerfile="$root/deploy/docker/Dockerfile"
build_dir=""
while [ $# -gt 0 ]; do
    case $1 in
        --dockerfile) dockerfile=$2; shift 2 ;;
        --build-dir) build_dir=$2; shift 2 ;;
        *) echo "docker_check.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

failures=0
fail() { printf 'FAILED: %s\n' "$*"; failures=$((failures + 1)); }
ok() { printf '  ok: %s\n' "$*"; }
step() { printf '\n=== %s\n' "$1"; }

. /etc/os-release 2>/dev/null || true
if [ "${ID:-}" != debian ] || [ "${VERSION_ID:-}" != 12 ]; then
    echo "docker_check.sh: SKIP: the image is Debian 12; this host is ${PRETTY_NAME:-unknown}," \
        "so its packages and libraries say nothing about the image"
    exit 77
fi
for tool in apt-cache dpkg dpkg-query readelf ldd cmake awk; do
    command -v "$tool" >/dev/null 2>&1 || { echo "docker_check.sh: $tool not found" >&2; exit 1; }
done
[ -r "$dockerfile" ] || { echo "docker_check.sh: cannot read $dockerfile" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
[ -n "$build_dir" ] || build_dir="$tmp/build"
mkdir -p "$build_dir"

# Logical Dockerfile lines: continuations joined, comments and blank lines dropped, each
# prefixed with its stage number (1 = first FROM).
awk '
    /^[[:space:]]*#/ { next }
    {
        line = cont $0
        if (line ~ /\\[[:space:]]*$/) { sub(/\\[[:space:]]*$/, " ", line); cont = line; next }
        cont = ""
        if (line ~ /^[[:space:]]*$/) next
        if (toupper(line) ~ /^[[:space:]]*FROM[[:space:]]/) stage++
        gsub(/[[:space:]]+/, " ", line)
        print stage "\t" line
    }' "$dockerfile" >"$tmp/lines"

stages=$(awk -F'\t' '$2 ~ /^FROM /' "$tmp/lines" | wc -l)
in_stage() { # N PATTERN: logical lines of stage N matching the ERE
    awk -F'\t' -v n="$1" '$1 == n' "$tmp/lines" | cut -f2- | grep -E -- "$2"
}
# Packages of the apt-get install in stage N: the words after --no-install-recommends up to &&.
packages_of() {
    in_stage "$1" 'apt-get install' | head -1 | sed -e 's/.*--no-install-recommends//' -e 's/&&.*//' |
        tr ' ' '\n' | grep -v '^-' | grep -v '^$'
}

# closure PKG...: the packages PKG... pull in (Depends and Pre-Depends, recursively, every
# alternative), one per line, PKG... included.
closure() {
    apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
        --no-replaces --no-enhances "$@" 2>/dev/null | grep -v '^ ' | grep -v '^<' | sort -u
}
# owners: file paths on stdin -> "path<TAB>package" (package "-" when no package owns it).
# /usr-merged systems: dpkg knows a file under the path its package ships, /lib/... or
# /usr/lib/..., so both spellings are asked.
owners() {
    local list="$tmp/owners.in" map="$tmp/owners.map"
    sort -u >"$list"
    while read -r f; do
        r=$(readlink -f "$f"); r=${r#/usr}
        printf '%s\n/usr%s\n' "$r" "$r"
    done <"$list" | sort -u | xargs -r dpkg -S 2>/dev/null | grep -v '^diversion' |
        sed -e 's/^\(.*\): \(\/.*\)$/\2\t\1/' -e 's/^\/usr\//\//' |
        awk -F'\t' '{ split($2, p, ", "); sub(/:[a-z0-9]+$/, "", p[1]); print $1 "\t" p[1] }' |
        sort -u >"$map"
    while read -r f; do
        r=$(readlink -f "$f"); r=${r#/usr}
        pkg=$(awk -F'\t' -v k="$r" '$1 == k { print $2; exit }' "$map")
        printf '%s\t%s\n' "$f" "${pkg:--}"
    done <"$list"
}

step "1. Dockerfile structure ($dockerfile)"
[ "$stages" -eq 2 ] && ok "two stages" || fail "expected 2 stages (builder + runtime), found $stages"
grep -Eq '^ARG DEBIAN_IMAGE=debian:bookworm-slim$' "$dockerfile" &&
    ok "base image debian:bookworm-slim" || fail "ARG DEBIAN_IMAGE=debian:bookworm-slim missing"
in_stage 1 '^FROM \$\{DEBIAN_IMAGE\} AS builder$' >/dev/null &&
    ok "stage 1 is the builder on \${DEBIAN_IMAGE}" || fail "stage 1 must be 'FROM \${DEBIAN_IMAGE} AS builder'"
in_stage 2 '^FROM \$\{DEBIAN_IMAGE\}$' >/dev/null &&
    ok "stage 2 (runtime) on \${DEBIAN_IMAGE}" || fail "stage 2 must be 'FROM \${DEBIAN_IMAGE}'"
build_cmd=$(in_stage 1 '^RUN cmake -S ' | head -1)
if [ -z "$build_cmd" ]; then
    fail "no 'RUN cmake -S ...' in the builder stage"
else
    for flag in -DCMAKE_BUILD_TYPE=Release -DTCPSTATE_BUILD_TESTS=OFF -DTCPSTATE_BUILD_BENCH=OFF; do
        case $build_cmd in *" $flag "*) ok "builder configures with $flag" ;; *) fail "builder cmake lacks $flag" ;; esac
    done
fi
in_stage 2 '^COPY --from=builder /build/tcpstate_exporter /usr/local/bin/tcpstate_exporter$' >/dev/null &&
    ok "runtime copies only the binary from the builder" || fail "runtime stage must COPY --from=builder the binary"
user=$(in_stage 2 '^USER ' | tail -1 | cut -d' ' -f2)
case ${user%%:*} in
    "" ) fail "runtime stage has no USER (would run as root)" ;;
    0 | root) fail "runtime stage USER is root ($user)" ;;
    *) ok "runtime runs as USER $user" ;;
esac
in_stage 2 '^EXPOSE 9930$' >/dev/null && ok "EXPOSE 9930" || fail "EXPOSE 9930 missing"
in_stage 2 '^ENTRYPOINT \[.*"--config.file", "/etc/tcpstate_exporter/tcpstate_exporter.yml"\]$' >/dev/null &&
    ok "ENTRYPOINT passes --config.file" || fail "ENTRYPOINT must be exec form with --config.file /etc/tcpstate_exporter/tcpstate_exporter.yml"
while read -r src; do
    [ -e "$root/$src" ] && ok "COPY source $src exists" || fail "COPY source $src does not exist"
done < <(awk -F'\t' '$2 ~ /^COPY / && $2 !~ /--from=/ { n = split($2, w, " "); for (i = 2; i < n; i++) if (w[i] != ".") print w[i] }' "$tmp/lines")
# The build context is the repository: .dockerignore must not hide what the build needs.
if [ -f "$root/.dockerignore" ]; then
    for needed in CMakeLists.txt daemon config bench; do
        grep -Eq "^/?$needed/?$" "$root/.dockerignore" && fail ".dockerignore excludes $needed, which the build needs"
    done
    ok ".dockerignore keeps the sources"
fi

builder_pkgs=$(packages_of 1)
runtime_pkgs=$(packages_of 2)
echo "  builder packages: $(echo $builder_pkgs)"
echo "  runtime packages: $(echo $runtime_pkgs)"
[ -n "$builder_pkgs" ] || fail "no apt-get install in the builder stage"
[ -n "$runtime_pkgs" ] || fail "no apt-get install in the runtime stage"
case " $(echo $runtime_pkgs) " in
    *-dev\ *) fail "the runtime stage installs -dev packages" ;;
esac

# The base image (debian:bookworm-slim, a minbase debootstrap): the Essential packages and apt,
# with everything they depend on.
essential=$(dpkg-query -W -f='${Package} ${Essential}\n' | awk '$2 == "yes" { print $1 }')
base_closure=$(closure apt $essential)

step "2. packages exist in Debian 12 (apt-cache policy)"
for p in $builder_pkgs $runtime_pkgs; do
    cand=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ { print $2 }')
    if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then
        fail "package $p: no candidate (not in Debian 12, or 'apt-get update' never ran here)"
    else
        ok "$p $cand"
    fi
done

step "3. builder stage: the Dockerfile's cmake command, on this host"
missing=""
for p in $builder_pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
binary="$build_dir/tcpstate_exporter"
if [ -n "$missing" ]; then
    fail "builder packages not installed on this host:$missing (apt-get install them, see .ci/install-deps.sh)"
elif [ -n "$build_cmd" ]; then
    cmd=${build_cmd#RUN }
    # /src is the checkout, /build the scratch build directory; nothing else is rewritten.
    cmd=$(printf '%s' "$cmd" | sed -e "s#/src\\b#$root#g" -e "s#/build/#$build_dir/#g" -e "s#/build #$build_dir #g")
    printf '+ %s\n' "$cmd"
    if sh -c "$cmd" >"$tmp/build.log" 2>&1; then
        ok "built $binary"
        tail -n 3 "$tmp/build.log" | sed 's/^/    /'
    else
        tail -n 40 "$tmp/build.log"
        fail "the builder stage's cmake command failed"
    fi
    # Everything the build read from the system must come from the builder's packages (or the
    # base image), or the image build fails where this host build passed.
    builder_closure=$( (closure $builder_pkgs; echo "$base_closure") | sort -u)
    {
        # headers, from the compiler's dependency files of the exporter's targets
        find "$build_dir" -name '*.o.d' -path '*tcpstate*' -exec cat {} + 2>/dev/null |
            tr ' \\' '\n\n' | grep '^/' | grep -v -e "^$root/" -e "^$build_dir/"
        # libraries and tools on the link line
        cat "$build_dir"/daemon/CMakeFiles/tcpstate_exporter.dir/link.txt 2>/dev/null | tr ' ' '\n' |
            grep '^/' | grep -v -e "^$root/" -e "^$build_dir/"
        # every file cmake found (compilers, make, git, pkg-config, libraries, headers)
        sed -n 's/^[A-Za-z0-9_.-]*:\(FILEPATH\|PATH\)=\(\/.*\)$/\2/p' "$build_dir/CMakeCache.txt" 2>/dev/null
    } | while read -r f; do [ -f "$f" ] && echo "$f"; done | owners >"$tmp/used"
    n_used=$(wc -l <"$tmp/used")
    bad=0
    while IFS=$'\t' read -r f pkg; do
        if [ "$pkg" = - ]; then
            fail "the build used $f, which no Debian package provides"; bad=$((bad + 1))
        elif ! grep -qx "$pkg" <<<"$builder_closure"; then
            echo "$pkg $f" >>"$tmp/missing"
        fi
    done <"$tmp/used"
    if [ -s "$tmp/missing" ]; then
        # one line per package: how many files, and the first
        while read -r pkg n first; do
            fail "the build used $n file(s) of $pkg (e.g. $first), which the builder stage does not install: add $pkg (or a -dev package that depends on it)"
            bad=$((bad + 1))
        done < <(sort "$tmp/missing" | awk '{ n[$1]++; if (!($1 in f)) f[$1] = $2 } END { for (p in n) print p, n[p], f[p] }')
    fi
    [ "$bad" -eq 0 ] && [ ! -s "$tmp/missing" ] &&
        ok "all $n_used system files the build used (headers, libraries, tools) come from the builder's packages or the base image"
fi

step "4. shared libraries come from the runtime packages"
if [ -x "$binary" ]; then
    owner() { # library path -> package name
        local f=$1 real
        real=$(readlink -f "$f")
        { dpkg -S "$real" 2>/dev/null || dpkg -S "$f" 2>/dev/null ||
            dpkg -S "${real#/usr}" 2>/dev/null || dpkg -S "/usr$real" 2>/dev/null; } |
            head -1 | cut -d: -f1
    }
    closure=$( (closure $runtime_pkgs; echo "$base_closure") | sort -u)
    ldd "$binary" >"$tmp/ldd" 2>&1 || fail "ldd $binary failed"
    if grep -q 'not found' "$tmp/ldd"; then fail "unresolved libraries: $(grep 'not found' "$tmp/ldd")"; fi
    used=" "
    for soname in $(readelf -d "$binary" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
        path=$(awk -v s="$soname" '$1 == s && $2 == "=>" { print $3 }' "$tmp/ldd")
        pkg=$(owner "$path")
        if case " $(echo $runtime_pkgs) " in *" $pkg "*) true ;; *) false ;; esac; then
            ok "NEEDED $soname -> $path -> $pkg"; used="$used$pkg "
        elif [ -n "$pkg" ] && grep -qx "$pkg" <<<"$base_closure"; then
            ok "NEEDED $soname -> $path -> $pkg (base image)"
        else
            fail "NEEDED $soname -> ${path:-?} -> ${pkg:-no package}: not installed by the runtime stage"
        fi
    done
    for p in $runtime_pkgs; do
        case $used in *" $p "*) ;; *) fail "runtime package $p provides no library the binary needs" ;; esac
    done
    while read -r path; do
        pkg=$(owner "$path")
        grep -qx "$pkg" <<<"$closure" && ok "indirect $path -> $pkg (dependency of the runtime packages)" ||
            fail "indirect $path -> ${pkg:-no package}: not in the runtime packages' dependencies"
    done < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 }' "$tmp/ldd" | while read -r p; do
        s=$(basename "$p"); readelf -d "$binary" | grep -q "\[$s\]" || echo "$p"; done)
else
    fail "no binary to inspect"
fi

step "5. the binary runs"
if [ -x "$binary" ]; then
    "$binary" --version && ok "--version" || fail "$binary --version"
    for cfg in config/tcpstate_exporter.yml deploy/kubernetes/base/tcpstate_exporter.yml; do
        "$binary" --config "$root/$cfg" --config.check && ok "--config.check $cfg" ||
            fail "$binary --config $cfg --config.check"
    done
fi

printf '\n'
if [ "$failures" -ne 0 ]; then
    printf 'docker_check.sh: %d check(s) FAILED\n' "$failures"
    exit 1
fi
printf 'docker_check.sh: all checks passed\n'
