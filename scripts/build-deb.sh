#!/usr/bin/env bash
# Builds build/switchboard_<version>_<arch>.deb from the server in the given build folder, with
# dpkg-deb alone (no debian/rules: the package is one binary and a few files, so the machinery
# of dpkg-buildpackage would only add a rebuild). Runs as any user: dpkg-deb --root-owner-group
# makes every file root's without fakeroot.
#
#   scripts/build-deb.sh [BUILD]      (make deb)
#
# The version is the binary's own (`switchboard --version`, from project() in CMakeLists.txt);
# deploy/debian/changelog must have an entry for it. The conffile's settings and the man page's
# options are generated from the binary (--print-config, --help), so neither can drift from the
# config table; their hand-written parts are deploy/debian/switchboard.toml.head and
# switchboard.8.include.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${1:-build}
bin="$build/switchboard"
src=deploy/debian

fail() { echo "build-deb: $*" >&2; exit 1; }
for tool in dpkg-deb dpkg-shlibdeps help2man strip gzip; do
  command -v "$tool" >/dev/null || fail "$tool is missing; run scripts/install-deps.sh"
done
[[ -x "$bin" ]] || fail "$bin is missing; build it first (make deb does)"

# Nothing from the builder's environment may reach the generated files.
run_bin() { env -i PATH=/usr/bin:/bin "$bin" "$@"; }

version=$(run_bin --version | awk '{print $2}')
[[ -n "$version" ]] || fail "$bin --version printed no version"
changelog_version=$(sed -n '1s/^switchboard (\([^)]*\)).*/\1/p' "$src/changelog")
[[ "$changelog_version" == "$version" ]] ||
  fail "the binary is $version but $src/changelog starts at ${changelog_version:-nothing}; add an entry"
maintainer=$(sed -n 's/^ -- \(.*>\)  .*/\1/p' "$src/changelog" | head -1)
# Dates in the package (man page, file times) come from the changelog, so a rebuild of the same
# sources gives the same bytes.
SOURCE_DATE_EPOCH=$(date -d "$(sed -n 's/^ -- .*>  //p' "$src/changelog" | head -1)" +%s)
export SOURCE_DATE_EPOCH
arch=$(dpkg --print-architecture)
out="$build/switchboard_${version}_${arch}.deb"

stage="$build/deb"
rm -rf "$stage"
pkg="$stage/root"
mkdir -p "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/etc/switchboard" "$pkg/lib/systemd/system" \
  "$pkg/usr/share/man/man8" "$pkg/usr/share/doc/switchboard"

# The binary, stripped of its debug information (lintian: unstripped-binary-or-object).
install -m 0755 "$bin" "$pkg/usr/bin/switchboard"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$pkg/usr/bin/switchboard"

# The conffile: the hand-written head, then every setting from the binary, the production
# choices (explained in the head) as live lines.
{
  cat "$src/switchboard.toml.head"
  echo
  run_bin --print-config --listen 0.0.0.0:8080 --history-dir /var/lib/switchboard \
    --no-allow-anonymous-publish --no-allow-anonymous-subscribe --jwt-require-exp
} >"$pkg/etc/switchboard/switchboard.toml"
chmod 0644 "$pkg/etc/switchboard/switchboard.toml"
# The file the binary wrote must load back in the binary that wrote it.
run_bin --config "$pkg/etc/switchboard/switchboard.toml" --print-config >/dev/null ||
  fail "the generated switchboard.toml does not load"
echo /etc/switchboard/switchboard.toml >"$pkg/DEBIAN/conffiles"

install -m 0644 "$src/switchboard.service" "$pkg/lib/systemd/system/switchboard.service"

# switchboard(8): the options from --help, the rest from the include file. help2man lays out an
# option whose text is on the next line as .HP/.IP; .TP reads better (and is what groff wants).
# The first line of --help repeats NAME, so it goes.
LC_ALL=C.UTF-8 help2man --locale=C.UTF-8 --section=8 --no-info --version-string="$version" \
  --include="$src/switchboard.8.include" --help-option=--help --version-option=--version \
  "$bin" | perl -0pe 's/^\.HP\n(.*)\n\.IP\n/.TP\n$1\n/mg; s/^\.PP\nSwitchboard: [^\n]*\n//m' |
  gzip -9n >"$pkg/usr/share/man/man8/switchboard.8.gz"

install -m 0644 "$src/copyright" "$pkg/usr/share/doc/switchboard/copyright"
# A native package (its version has no Debian revision): the changelog is changelog.gz.
gzip -9n <"$src/changelog" >"$pkg/usr/share/doc/switchboard/changelog.gz"

for script in postinst prerm postrm; do
  install -m 0755 "$src/$script" "$pkg/DEBIAN/$script"
done

# Shared-library dependencies, as dpkg-shlibdeps finds them (it wants to run in a source tree).
mkdir -p "$stage/src/debian"
printf 'Source: switchboard\n\nPackage: switchboard\nArchitecture: any\n' >"$stage/src/debian/control"
shlibs=$(cd "$stage/src" && dpkg-shlibdeps -O -e"$root/$pkg/usr/bin/switchboard" 2>/dev/null |
  sed -n 's/^shlibs:Depends=//p')
[[ -n "$shlibs" ]] || fail "dpkg-shlibdeps found no dependencies for $bin"

size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@MAINTAINER@/$maintainer/" \
  -e "s/@SIZE@/$size/" -e "s/@SHLIBS@/$shlibs/" "$src/control.in" >"$pkg/DEBIAN/control"
(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
  xargs -0 md5sum) >"$stage/md5sums"
install -m 0644 "$stage/md5sums" "$pkg/DEBIAN/md5sums"

# Modes and times: a umask or a checkout's times must not leak into the package.
find "$pkg" -type d -exec chmod 0755 {} +
find "$pkg" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$out" >/dev/null
echo "built $out ($(du -k "$out" | cut -f1) KiB)"
