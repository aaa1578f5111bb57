#!/bin/sh
# Make, or check, the virtual environment that `make` runs labrnn in: venv.sh VENV [PYTHON]
# (venv.sh --list prints each supported version found and its interpreter, newest first.)
#
# Without PYTHON, an existing VENV is used as it is, and a new one gets the newest supported
# Python found by running it: python3.13, python3.12, python3.11 on PATH, then pyenv's
# versions (its shims exist for versions that are not active, so a name on PATH proves
# nothing), then python3.  With PYTHON, a VENV of another Python version is made again.
# A failed set-up removes the half-made VENV, so the next run starts clean.
set -eu
supported="3.13 3.12 3.11"

say() { printf 'labrnn: %s\n' "$*" >&2; }
version() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null; }
supported() { case " $supported " in *" $1 "*) return 0 ;; esac; return 1; }
up_to_date() { [ -f "$stamp" ] && [ ! pyproject.toml -nt "$stamp" ]; }
found() {      # "VERSION INTERPRETER" for each supported version that runs, newest first
    pyenv_root=$(pyenv root 2>/dev/null || true)
    for v in $supported; do
        for candidate in "python$v" "$pyenv_root"/versions/"$v"*/bin/python"$v" python3; do
            if [ "$(version "$candidate")" = "$v" ]; then echo "$v $candidate"; break; fi
        done
    done
}

if [ "${1:-}" = --list ]; then found; exit 0; fi
venv=$1
asked=${2:-}
stamp=$venv/.installed

have=$(version "$venv/bin/python" || true)
if [ -n "$asked" ]; then
    want=$(version "$asked") || {
        here=$(found | tr '\n' ';' | sed 's/;$//; s/;/; /g')
        say "PYTHON=$asked does not run (an inactive pyenv shim?); supported ones here: ${here:-none}"
        exit 2; }
    supported "$want" || {
        say "PYTHON=$asked is Python $want; labrnn supports 3.11 to 3.13: make report PYTHON=python3.12"; exit 2; }
    python=$asked
elif supported "$have"; then
    want=$have python=$venv/bin/python
else
    newest=$(found | head -n 1)
    want=${newest%% *} python=${newest#* }
    [ -n "$newest" ] || {
        say "no Python 3.11, 3.12 or 3.13 found; install one, or name it: make report PYTHON=/path/to/python3.12"
        exit 2; }
fi
[ "$have" = "$want" ] && up_to_date && exit 0

if [ -e "$venv" ] && [ ! -f "$venv/pyvenv.cfg" ]; then
    say "VENV=$venv exists and is not a virtual environment; choose another path"; exit 2
fi
trap 'rm -rf "$venv"; say "setting up $venv failed (see above); nothing is left of it"' EXIT
trap 'exit 130' INT TERM
if [ "$have" = "$want" ]; then
    say "updating $venv (pyproject.toml changed, or its set-up did not finish)"
else
    if [ -n "$have" ]; then
        say "$venv is Python $have, not $want: making it again with $python"
    else
        say "making $venv with $python (Python $want); this takes a minute or two, once"
    fi
    rm -rf "$venv"
    "$python" -m venv "$venv" >/dev/null 2>&1 || {
        say "$python cannot make a virtual environment: install its venv module" \
            "(Debian/Ubuntu: sudo apt-get install python$want-venv)"
        exit 2; }
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e '.[test,lab]'
# `make lab` offers this environment under a name no other kernel has.
"$venv/bin/python" -m ipykernel install --sys-prefix --name labrnn \
    --display-name "labrnn ($venv, Python $want)" >/dev/null
echo "$want" > "$stamp"
trap - EXIT
