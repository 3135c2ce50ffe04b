# Shared by the bench scripts: `. "$(dirname "$0")/lib.sh"` (or the path to it).

# install_missing WHO PACKAGE... — installs the Debian packages given (the
# caller lists only the missing ones) with apt-get when running as root;
# otherwise says what to install and exits 1. WHO names the calling script.
install_missing() {
    local who=$1
    shift
    [ $# -gt 0 ] || return 0
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        echo "== installing $*" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y --no-install-recommends "$@" ||
            { apt-get update && apt-get install -y --no-install-recommends "$@"; }
    else
        echo "$who: missing $*: as root, apt-get install -y --no-install-recommends $*" >&2
        exit 1
    fi
}
