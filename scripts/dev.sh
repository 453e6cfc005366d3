#!/usr/bin/env bash
# One entry point for the README's two commands. Creates .venv in the checkout on first use.
#   bash scripts/dev.sh demo [ARGS]   install, then run `ulmfit demo` (the main job, offline)
#   bash scripts/dev.sh test [ARGS]   install with the dev extra, then run the test suite
#   bash scripts/dev.sh slow          run the tests marked slow
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.ulmfit-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".[dev]"
    touch "$stamp"
fi
cmd=${1:-test}
shift || true
case "$cmd" in
    demo)
        exec .venv/bin/ulmfit demo "$@" ;;
    test|slow)
        marker=()
        [ "$cmd" = slow ] && marker=(-m slow)
        set +e
        .venv/bin/python -m pytest -q "${marker[@]}" "$@"
        rc=$?
        set -e
        if [ "$rc" -eq 5 ]; then
            echo "error: pytest collected no tests (exit 5); treating as a failure" >&2
            exit 1
        fi
        exit "$rc" ;;
    *)
        echo "usage: bash scripts/dev.sh demo|test|slow [ARGS]" >&2
        exit 2 ;;
esac
