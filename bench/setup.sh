#!/usr/bin/env bash
# Creates the benchmark environments under bench/.venvs/ (gitignored). Idempotent.
#   asgi:   Python 3.11 + uvicorn + every ASGI subject, cookieguard installed editable from here
#   flask:  Python 3.11 + gunicorn + Flask, Flask-Session, Flask-WTF, Flask-Login, cookieguard
#   django: Python 3.12 (Django 6 needs it) + gunicorn
set -euo pipefail
cd "$(dirname "$0")"
ROOT="$(cd .. && pwd)"
PY311="${PY311:-$HOME/.pyenv/versions/3.11.7/bin/python}"
PY312="${PY312:-$HOME/.pyenv/versions/3.12.1/bin/python}"

make_venv() {  # name python requirements [extra pip args...]
    local name="$1" python="$2" reqs="$3"
    shift 3
    local venv=".venvs/$name" stamp=".venvs/$name/.stamp"
    if [ -f "$stamp" ] && [ "$stamp" -nt "$reqs" ]; then
        echo "setup: $venv up to date"
        return
    fi
    echo "setup: creating $venv with $("$python" --version)"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet -r "$reqs" "$@"
    touch "$stamp"
}

if ! command -v wrk >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "setup: installing wrk"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
    else
        echo "setup: wrk is missing (as root: apt-get install wrk)" >&2
        exit 1
    fi
fi
make_venv asgi "$PY311" requirements-asgi.txt -e "$ROOT[redis,postgres,demo]"
make_venv flask "$PY311" requirements-flask.txt -e "$ROOT[redis,postgres,flask]"
make_venv django "$PY312" requirements-django.txt
echo "setup: done"
