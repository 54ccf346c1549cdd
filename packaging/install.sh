#!/usr/bin/env bash
# Offline install of edgeagent from the wheelhouse beside this script (run as root).
#   sudo ./install.sh --public-key release.pub [--prefix /opt/edgeagent] [--config-template NAME]
#                     [--home ID] [--lang zh_CN]
# Checks the bundle first: SHA256SUMS must carry a valid Ed25519 signature by the release
# key (--public-key, brought separately; later upgrades reuse PREFIX/release.pub), every
# file must be listed in it with the right hash, and no unlisted file may be present.
# Then creates the release PREFIX/releases/<version> (the layout `edgeagent update apply`
# uses), installs exactly the wheels of requirements.lock into it (pip --require-hashes
# --no-index), marks it complete and switches PREFIX/current to it (`edgeagent update
# adopt`; an earlier PREFIX/venv install becomes a release to roll back to), links
# /usr/local/bin/edgeagent and runs `edgeagent install` (user, dirs, unit starting
# PREFIX/current/bin/edgeagent). Running it again with the same version upgrades in place.
set -o errexit -o pipefail -o nounset
here=$(cd "$(dirname "$0")" && pwd)
prefix=/opt/edgeagent
link=/usr/local/bin/edgeagent
pubkey=""
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        --no-link) link=""; shift ;;
        --public-key) pubkey="$2"; shift 2 ;;
        *) args+=("$1"); shift ;;
    esac
done
refuse() { echo "install.sh: refused: $*" >&2; exit 2; }

# 1. The manifest is the release's: signed by the key the technician trusts.
[ -n "$pubkey" ] || pubkey="$prefix/release.pub"
[ -f "$pubkey" ] || refuse "no release public key: pass --public-key FILE (from the" \
    "release notes or your fleet's key store, never from this bundle)"
[ -f "$here/SHA256SUMS" ] && [ -f "$here/SHA256SUMS.sig" ] || refuse "SHA256SUMS or its signature is missing"
openssl pkeyutl -verify -pubin -inkey "$pubkey" -rawin -in "$here/SHA256SUMS" \
    -sigfile "$here/SHA256SUMS.sig" >/dev/null 2>&1 \
    || refuse "SHA256SUMS is not signed by the key in $pubkey"
# 2. Every listed file is intact, and nothing else is here.
(cd "$here" && sha256sum --quiet --strict --check SHA256SUMS) || refuse "a file does not match SHA256SUMS"
unlisted=$(cd "$here" && comm -23 \
    <(find . ! -type d ! -name SHA256SUMS ! -name SHA256SUMS.sig | sed 's|^\./||' | LC_ALL=C sort) \
    <(sed 's/^[0-9a-f]*  //' SHA256SUMS | LC_ALL=C sort))
[ -z "$unlisted" ] || refuse "files not listed in SHA256SUMS: $(echo $unlisted)"

python=${PYTHON:-python3}
"$python" -c 'import sys; assert sys.version_info >= (3, 11), "edgeagent needs Python 3.11+"'
version=$(sed -n 's/^edgeagent==\([^ ]*\) .*/\1/p' "$here/requirements.lock")
[ -n "$version" ] || refuse "requirements.lock pins no edgeagent version"
release="$prefix/releases/$version"
if [ "$(readlink "$prefix/current" 2>/dev/null || true)" != "releases/$version" ]; then
    # Not the running release: built afresh (a leftover of a cut-short run is replaced).
    rm -rf "$release"
fi
if [ ! -x "$release/bin/python" ]; then
    mkdir -p "$prefix/releases"
    # --without-pip: works even where Debian's python3-venv (ensurepip) is not installed.
    "$python" -m venv --without-pip "$release"
fi
pipwheel=$(ls "$here"/wheelhouse/pip-*.whl | head -n 1)
# 3. Exactly the locked wheels: pip refuses any distribution without a matching hash.
"$release/bin/python" "$pipwheel/pip" install --quiet --no-index --require-hashes \
    --find-links "$here/wheelhouse" --upgrade -r "$here/requirements.lock"
if [ "$pubkey" != "$prefix/release.pub" ]; then
    install -m 0644 "$pubkey" "$prefix/release.pub"  # trusted for the next upgrade
fi
# 4. Complete mark and atomic switch of `current`: the updater's own code, so both agree.
"$release/bin/edgeagent" update adopt "$version" --root "$prefix" --wheelhouse "$here/wheelhouse"

if [ -n "$link" ]; then
    ln -sfn "$prefix/current/bin/edgeagent" "$link"
fi
exec "$prefix/current/bin/edgeagent" install --executable "$prefix/current/bin/edgeagent" "${args[@]}"
