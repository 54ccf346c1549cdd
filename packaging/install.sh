#!/usr/bin/env bash
# Offline install of edgeagent from the wheelhouse beside this script (run as root).
#   sudo ./install.sh [--prefix /opt/edgeagent] [--config-template NAME] [--home ID] [--lang zh_CN]
# Creates PREFIX/venv, installs edgeagent from ./wheelhouse with no network,
# links /usr/local/bin/edgeagent, then runs `edgeagent install` (user, dirs, unit).
# Running it again upgrades in place; `edgeagent install` reports what changed.
set -o errexit -o pipefail -o nounset
here=$(cd "$(dirname "$0")" && pwd)
prefix=/opt/edgeagent
link=/usr/local/bin/edgeagent
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        --no-link) link=""; shift ;;
        *) args+=("$1"); shift ;;
    esac
done

(cd "$here" && sha256sum --quiet --check SHA256SUMS)

python=${PYTHON:-python3}
"$python" -c 'import sys; assert sys.version_info >= (3, 11), "edgeagent needs Python 3.11+"'
if [ ! -x "$prefix/venv/bin/python" ]; then
    # --without-pip: works even where Debian's python3-venv (ensurepip) is not installed.
    "$python" -m venv --without-pip "$prefix/venv"
fi
pipwheel=$(ls "$here"/wheelhouse/pip-*.whl | head -n 1)
"$prefix/venv/bin/python" "$pipwheel/pip" install --quiet --no-index \
    --find-links "$here/wheelhouse" --upgrade pip edgeagent cryptography

if [ -n "$link" ]; then
    ln -sfn "$prefix/venv/bin/edgeagent" "$link"
fi
exec "$prefix/venv/bin/edgeagent" install --executable "$prefix/venv/bin/edgeagent" "${args[@]}"
