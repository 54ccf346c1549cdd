# Shared by scripts/demo and scripts/test: a project venv with the package installed.
# Usage: ensure_venv EXTRAS   (EXTRAS is "" or "[test]")
VENV="${EDGEAGENT_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

apt_or_explain() {
    # apt_or_explain PKG...: install missing Debian packages when root, else say the command.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing $* with apt-get" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
    else
        echo "missing: $*. Install with: sudo apt-get install -y $*" >&2
        exit 3
    fi
}

ensure_venv() {
    local extras="$1"
    if ! command -v "$PYTHON" >/dev/null; then
        apt_or_explain python3 python3-venv
    fi
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "missing: Python 3.11 or newer (found $("$PYTHON" --version))" >&2
        exit 3
    fi
    "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || apt_or_explain python3-venv
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -m venv "$VENV"
    fi
    local stamp
    stamp="$VENV/.installed$extras-$(sha1sum pyproject.toml | cut -c1-12)"
    if [ ! -f "$stamp" ]; then
        "$VENV/bin/python" -m pip install --quiet --upgrade pip
        "$VENV/bin/python" -m pip install --quiet -e ".$extras"
        touch "$stamp"
    fi
}
