#!/usr/bin/env bash
# Builds the ota .deb for one Debian architecture with dpkg-deb:
#   packaging/deb/build.sh VERSION ARCH OUTDIR     (ARCH: amd64, arm64 or armhf)
# The package holds the static binary (/usr/bin/ota), the systemd units, a
# default /etc/ota/config.toml (a conffile), bash/zsh/fish completions and
# the man page, all generated from the same command tree as --help.
set -euo pipefail
[[ $# == 3 ]] || { echo "usage: $0 VERSION ARCH OUTDIR" >&2; exit 2; }
version=$1 arch=$2 out=$3
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
case $arch in
amd64) goarch=amd64 goarm= ;;
arm64) goarch=arm64 goarm= ;;
armhf) goarch=arm goarm=7 ;;
*) echo "unknown architecture $arch (amd64, arm64, armhf)" >&2; exit 2 ;;
esac
mkdir -p "$out"
out=$(cd "$out" && pwd)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

CGO_ENABLED=0 GOOS=linux GOARCH=$goarch GOARM=$goarm go build -trimpath \
  -ldflags "-s -w -X github.com/otafleet/ota/internal/cli.version=$version" \
  -o "$root/usr/bin/ota" ./cmd/ota
install -d "$root/lib/systemd/system" "$root/etc/ota" "$root/usr/share/man/man1" \
  "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
  "$root/usr/share/fish/vendor_completions.d" "$root/usr/share/doc/ota" "$root/DEBIAN"
for u in packaging/systemd/*.service packaging/systemd/*.timer; do
  sed 's#/usr/local/bin/ota#/usr/bin/ota#g' "$u" >"$root/lib/systemd/system/$(basename "$u")"
done
install -m 0644 packaging/deb/config.toml "$root/etc/ota/config.toml"
# Completions and the man page come from the command tree of this source.
go run ./cmd/ota completion bash >"$root/usr/share/bash-completion/completions/ota"
go run ./cmd/ota completion zsh >"$root/usr/share/zsh/vendor-completions/_ota"
go run ./cmd/ota completion fish >"$root/usr/share/fish/vendor_completions.d/ota.fish"
go run ./internal/tools/genman -version "$version" | gzip -9n >"$root/usr/share/man/man1/ota.1.gz"
install -m 0644 README.md "$root/usr/share/doc/ota/README.md"

size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<CONTROL
Package: ota
Version: $version
Architecture: $arch
Maintainer: ota maintainers <maintainers@otafleet.invalid>
Installed-Size: $size
Section: admin
Priority: optional
Homepage: https://github.com/otafleet/ota
Description: over-the-air updater for application folders kept in Git
 ota keeps a device's application folder equal to a Git repository (or a
 signed static update repository) at a chosen release, tag, branch tip or
 commit: only what changed travels, every byte is verified, updates are
 atomic and survive a power cut, with health checks, rollback and staged
 rollouts. One static binary.
CONTROL
echo /etc/ota/config.toml >"$root/DEBIAN/conffiles"
cat >"$root/DEBIAN/postinst" <<'SCRIPT'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
if [ "$1" = configure ] && [ -z "$2" ]; then
  echo "ota: edit /etc/ota/config.toml, then enable ota.service or ota-update.timer (see man ota)"
fi
SCRIPT
cat >"$root/DEBIAN/prerm" <<'SCRIPT'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl stop ota.service ota-update.timer ota-update.service 2>/dev/null || true
  systemctl disable ota.service ota-update.timer ota-recover.service 2>/dev/null || true
fi
SCRIPT
cat >"$root/DEBIAN/postrm" <<'SCRIPT'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
SCRIPT
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"
dpkg-deb --root-owner-group -Zxz --build "$root" "$out/ota_${version}_${arch}.deb" >/dev/null
echo "$out/ota_${version}_${arch}.deb"
