#!/usr/bin/env bash
# Build the offline install bundle a technician carries to a home:
#   dist/edgeagent-<version>-<platform>.tar.gz
#     wheelhouse/   edgeagent + every dependency as wheels (no compiler, no network needed)
#     install.sh    creates /opt/edgeagent/releases/<version> from the wheelhouse, points
#                   /opt/edgeagent/current at it, then runs `edgeagent install`
#     requirements.lock, SHA256SUMS, SHA256SUMS.sig   (packaging/seal.py: hashes, Ed25519)
#
# Usage: packaging/build-wheelhouse.sh --signing-key KEY.pem [--platform PLAT]
#            [--python-version 3.11] [--out DIR]
#   --signing-key KEY.pem              the release's Ed25519 private key (seal.py keygen)
#   --platform host (default)          wheels for the machine running the build
#   --platform manylinux2014_aarch64   Raspberry Pi OS 64-bit (Pi 3/4/5)
#   --platform linux_armv7l            Raspberry Pi OS 32-bit (adds the piwheels index)
# Needs network access on the build machine only. See docs/install.md.
set -o errexit -o pipefail -o nounset
cd "$(dirname "$0")/.."

platform=host
pyver=3.11
out=dist
signing_key=""
while [ $# -gt 0 ]; do
    case "$1" in
        --platform) platform="$2"; shift 2 ;;
        --python-version) pyver="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --signing-key) signing_key="$2"; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
if [ -z "$signing_key" ]; then
    echo "--signing-key is required: an unsigned bundle would not install" >&2
    exit 2
fi

python=${PYTHON:-python3}
version=$("$python" -c 'import tomllib;print(tomllib.load(open("pyproject.toml","rb"))["project"]["version"])')
name="edgeagent-${version}-${platform}"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
bundle="$stage/$name"
mkdir -p "$bundle/wheelhouse"

# 1. edgeagent itself (pure Python: one py3-none-any wheel for every platform).
"$python" -m pip wheel --no-deps --wheel-dir "$bundle/wheelhouse" .

# 2. Its runtime dependencies, plus cryptography for `edgeagent identity` and pip
#    itself (the kit may lack python3-venv's ensurepip: install.sh runs pip from its wheel).
deps=$("$python" - <<'PY'
import tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
print("\n".join(project["dependencies"] + ["cryptography>=42", "pip"]))
PY
)
printf '%s\n' "$deps" > "$stage/requirements.txt"
if [ "$platform" = host ]; then
    "$python" -m pip download --only-binary=:all: --dest "$bundle/wheelhouse" \
        -c packaging/constraints.txt -r "$stage/requirements.txt"
else
    extra=()
    case "$platform" in *armv7l*|*armv6l*) extra=(--extra-index-url https://www.piwheels.org/simple) ;; esac
    "$python" -m pip download --only-binary=:all: --dest "$bundle/wheelhouse" \
        --platform "$platform" --python-version "$pyver" --implementation cp \
        "${extra[@]}" -c packaging/constraints.txt -r "$stage/requirements.txt"
fi

# 3. The installer the technician runs; the hashed lock, the manifest and its signature.
cp packaging/install.sh "$bundle/install.sh"
chmod 755 "$bundle/install.sh"
"$python" packaging/seal.py "$bundle" --signing-key "$signing_key"

mkdir -p "$out"
tar -C "$stage" -czf "$out/$name.tar.gz" "$name"
echo "$out/$name.tar.gz ($(ls "$bundle/wheelhouse" | wc -l) wheels)"
