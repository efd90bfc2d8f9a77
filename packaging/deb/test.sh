#!/usr/bin/env bash
# Installs a built .deb with dpkg on this machine (as root), checks what it
# installed, runs the installed binary, then removes and purges it:
#   packaging/deb/test.sh PATH.deb VERSION
set -euo pipefail
deb=$1 version=$2
die() { echo "deb test: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "needs root (dpkg -i)"
dpkg -i "$deb" >/dev/null
for f in /usr/bin/ota /etc/ota/config.toml /lib/systemd/system/ota.service /lib/systemd/system/ota-recover.service \
  /lib/systemd/system/ota-update.timer /usr/share/man/man1/ota.1.gz /usr/share/bash-completion/completions/ota \
  /usr/share/zsh/vendor-completions/_ota /usr/share/fish/vendor_completions.d/ota.fish; do
  [[ -e $f ]] || die "$f is not installed"
done
got=$(/usr/bin/ota version)
[[ $got == "ota $version" ]] || die "ota version says '$got', want 'ota $version'"
grep -q 'ExecStart=/usr/bin/ota ' /lib/systemd/system/ota.service || die "ota.service does not run /usr/bin/ota"
zcat /usr/share/man/man1/ota.1.gz | grep -q '^\.SH EXIT STATUS' || die "man page without exit status"
# The default config is a template: ota refuses it with a config error (exit 2).
set +e
/usr/bin/ota --config /etc/ota/config.toml check >/dev/null 2>&1
rc=$?
set -e
[[ $rc == 2 ]] || die "the template config gave exit $rc, want 2"
echo "# edited" >>/etc/ota/config.toml
dpkg -r ota >/dev/null
[[ ! -e /usr/bin/ota ]] || die "/usr/bin/ota left after dpkg -r"
grep -q '# edited' /etc/ota/config.toml || die "dpkg -r removed the edited conffile"
dpkg -P ota >/dev/null
[[ ! -e /etc/ota/config.toml ]] || die "dpkg -P left the conffile"
echo "deb test: $deb installed, ran 'ota version' ($got), removed and purged"
