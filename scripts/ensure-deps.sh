#!/usr/bin/env bash
# Installs what kkoji's run and test commands need, if it is missing:
#  - PostgreSQL server binaries (the hub runs an embedded cluster from them)
#  - openssl and curl (used by tests)
#  - the stock koji CLI 1.36.1 in a virtualenv at .venv (tests drive the hub with it)
# Safe to run repeatedly; it only acts on what is absent.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

need_apt=()
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
    need_apt+=(postgresql)
fi
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v rpmbuild >/dev/null 2>&1 || need_apt+=(rpm)
# repodata is checked against createrepo_c and read back with dnf
command -v createrepo_c >/dev/null 2>&1 || need_apt+=(createrepo-c)
command -v dnf >/dev/null 2>&1 || need_apt+=(dnf)
# kkoji-mirror-sync: its tests sign RPMs and repomd.xml with gpg (rpmsign comes with rpm),
# rsync:// upstreams use rsync, and `kkoji-bench mirror` runs dnf reposync beside it
command -v gpg >/dev/null 2>&1 || need_apt+=(gnupg)
command -v rsync >/dev/null 2>&1 || need_apt+=(rsync)
ls /usr/lib/python3/dist-packages/dnf-plugins/reposync.py >/dev/null 2>&1 || need_apt+=(dnf-plugins-core)
# kkoji-backup dumps and restores through pg_dump/pg_restore; kkoji-bench backup compares
# it with duplicity
command -v pg_restore >/dev/null 2>&1 || need_apt+=(postgresql-client)
command -v duplicity >/dev/null 2>&1 || need_apt+=(duplicity)
# the koji CLI checks downloaded RPMs with rpm's python bindings (Debian's python3-rpm),
# so the venv is made from Debian's python3 with system site packages
[ -x /usr/bin/python3 ] || need_apt+=(python3)
/usr/bin/python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
/usr/bin/python3 -c 'import rpm' >/dev/null 2>&1 || need_apt+=(python3-rpm)
# `koji import-comps` reads comps files with libcomps' python bindings
/usr/bin/python3 -c 'import libcomps' >/dev/null 2>&1 || need_apt+=(python3-libcomps)
# the stock kojid (run by e2e/tests/stock_kojid.rs when KOJI_SRC names a Koji source tree)
# imports dnf, librepo and Cheetah from Debian's python3
if [ -n "${KOJI_SRC:-}" ]; then
    /usr/bin/python3 -c 'import dnf' >/dev/null 2>&1 || need_apt+=(python3-dnf)
    /usr/bin/python3 -c 'import librepo' >/dev/null 2>&1 || need_apt+=(python3-librepo)
    /usr/bin/python3 -c 'import Cheetah' >/dev/null 2>&1 || need_apt+=(python3-cheetah)
fi
# ops tests (rc-local, builder prepare): loop devices with ext4/xfs, swap, namespaces
command -v mkfs.xfs >/dev/null 2>&1 || need_apt+=(xfsprogs)
command -v mkfs.ext4 >/dev/null 2>&1 || need_apt+=(e2fsprogs)
{ command -v losetup && command -v unshare && command -v blkid && command -v wipefs; } >/dev/null 2>&1 || need_apt+=(util-linux mount)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "ensure-deps: installing ${need_apt[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

venv="${KKOJI_KOJI_VENV:-$root/.venv}"
if ! "$venv/bin/python" -c 'import koji, rpm' >/dev/null 2>&1; then
    echo "ensure-deps: installing koji==1.36.1 into $venv" >&2
    rm -rf "$venv"
    /usr/bin/python3 -m venv --system-site-packages "$venv"
    # ssl auth needs no Kerberos: skip requests-gssapi (it would need krb5 headers to build)
    "$venv/bin/pip" install -q --no-deps koji==1.36.1
    "$venv/bin/pip" install -q requests python-dateutil defusedxml six
fi
"$venv/bin/python" -c 'import koji, rpm' >/dev/null
# ... and python-multilib, which Debian does not package
if [ -n "${KOJI_SRC:-}" ] && ! "$venv/bin/python" -c 'import multilib' >/dev/null 2>&1; then
    echo "ensure-deps: installing python-multilib into $venv (for the stock kojid)" >&2
    "$venv/bin/pip" install -q python-multilib
fi
