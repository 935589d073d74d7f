# Shared by scripts/test and scripts/demo (sourced, not run): installs what a fresh
# Debian 12 machine lacks and makes .venv with ccd and its dev tools.
# Expects to be sourced from the repository root with `set -euo pipefail`.

export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1

section() { printf '\n\033[1m==== %s ====\033[0m\n' "$*"; }

have_postgres() {
    command -v pg_config >/dev/null && [[ -x $(pg_config --bindir)/initdb ]] && return
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

install_system_packages() {
    local missing=()
    section "system packages"
    if [[ ! -x .venv/bin/python ]] && ! python3 -c 'import ensurepip' 2>/dev/null; then
        missing+=(python3-venv)
    fi
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    have_postgres || missing+=(postgresql)
    # SIPp: SIP phones (customers calling in, agents answering) for the SIP system tests.
    command -v sipp >/dev/null || missing+=(sip-tester)
    # The sandbox's simulated callees speak (answering-machine detection needs speech).
    command -v espeak-ng >/dev/null || missing+=(espeak-ng)
    command -v sox >/dev/null || missing+=(sox)
    # Headless Chromium: the wallboard's browser tests drive it over the DevTools protocol.
    command -v chromium >/dev/null || missing+=(chromium)
    # systemd-analyze: the shipped unit (deploy/ccd.service) is checked with `verify`.
    command -v systemd-analyze >/dev/null || missing+=(systemd)
    # Docker (Debian's daemon and docker-compose 1.29): tests/system/test_container.py
    # builds the images and runs docker/compose.yaml; it starts its own dockerd
    # (scripts/container-daemon), so the package's service is never needed.
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v docker-compose >/dev/null || missing+=(docker-compose)
    if ((${#missing[@]} == 0)); then
        echo "nothing to install"
        return
    fi
    if [[ $(id -u) -ne 0 ]]; then
        echo "missing packages: ${missing[*]} — run as root, or install them first" >&2
        return 1
    fi
    echo "installing: ${missing[*]}"
    if [[ " ${missing[*]} " == *" postgresql "* ]]; then
        # Debian's package would otherwise create and start a cluster on 5432.
        mkdir -p /etc/postgresql-common
        grep -qs '^create_main_cluster' /etc/postgresql-common/createcluster.conf ||
            echo 'create_main_cluster = false' >>/etc/postgresql-common/createcluster.conf
    fi
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

make_venv() {
    local stamp=.venv/.ccd-lock.sha256 want
    section "python environment"
    [[ -x .venv/bin/python ]] || python3 -m venv .venv
    # requirements.lock pins ccd's dependencies and dev tools with their hashes, so CI
    # installs exactly what was tested (README, Development, says how to update it).
    # Reinstall only when the lock or pyproject.toml changed.
    want=$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
    if [[ ! -f $stamp || $(<"$stamp") != "$want" ]] || ! .venv/bin/python -c 'import ccd' 2>/dev/null; then
        echo "installing ccd and its dev tools into .venv from requirements.lock"
        # pip's output goes to a log, shown only if it fails: CI logs stay readable.
        # pip check: a dependency in pyproject.toml but missing from the lock fails here.
        if ! { .venv/bin/python -m pip install -q --upgrade pip &&
            .venv/bin/python -m pip install -q -r requirements.lock &&
            .venv/bin/python -m pip install -q --no-deps -e . &&
            .venv/bin/python -m pip check; } >.venv/pip-install.log 2>&1; then
            cat .venv/pip-install.log >&2
            echo "pip install failed (log: .venv/pip-install.log)" >&2
            return 1
        fi
        echo "$want" >"$stamp"
    fi
    .venv/bin/python --version
}
