#!/usr/bin/env bash
# Builds the example WebAssembly components from source into
# target/components/ (under CARGO_TARGET_DIR when set):
#   notes.wasm      integration/components/examples/notes (Python, componentize-py)
#   notes-v2.wasm   the same app with VERSION = "2", for rolling replaces
# Installs componentize-py from PyPI when it is missing. Skips a build whose
# output is newer than its sources.
set -euo pipefail
cd "$(dirname "$0")/.."

CPY_VERSION=0.25.1
if ! command -v componentize-py >/dev/null 2>&1 ||
    ! componentize-py --version 2>/dev/null | grep -q " ${CPY_VERSION}\$"; then
    echo "build-components: installing componentize-py ${CPY_VERSION} from PyPI"
    python3 -m pip install --quiet --disable-pip-version-check "componentize-py==${CPY_VERSION}" \
        || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages \
            "componentize-py==${CPY_VERSION}"
fi

out=$(realpath -m "${CARGO_TARGET_DIR:-target}")/components
mkdir -p "$out"
world=lattice:components/http-messaging-app
src=integration/components/examples/notes

fresh() { # fresh OUTPUT INPUT... : OUTPUT exists and is newer than every INPUT
    local o=$1; shift
    [ -f "$o" ] || return 1
    [ -z "$(find "$@" -type f -not -path '*/__pycache__/*' -newer "$o" -print -quit)" ]
}

build() { # build DIR OUTPUT
    local dir=$1 o=$2 t0=$SECONDS
    (cd "$dir" && PYTHONDONTWRITEBYTECODE=1 componentize-py -d "$OLDPWD/wit" -w "$world" componentize app -o "$o.tmp" >/dev/null)
    mv "$o.tmp" "$o"
    echo "build-components: $o ($(($(stat -c %s "$o") / 1024)) KiB) in $((SECONDS - t0)) s"
}

if fresh "$out/notes.wasm" "$src" wit; then
    echo "build-components: $out/notes.wasm is up to date"
else
    build "$src" "$out/notes.wasm"
fi

if fresh "$out/notes-v2.wasm" "$src" wit; then
    echo "build-components: $out/notes-v2.wasm is up to date"
else
    v2=$(mktemp -d)
    trap 'rm -rf "$v2"' EXIT
    sed 's/^VERSION = "1"$/VERSION = "2"/' "$src/app.py" > "$v2/app.py"
    grep -q '^VERSION = "2"$' "$v2/app.py" || { echo "build-components: no VERSION line in $src/app.py" >&2; exit 1; }
    build "$v2" "$out/notes-v2.wasm"
fi
