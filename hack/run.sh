#!/usr/bin/env bash
# One entry point for the README's commands: sets everything up (Debian packages,
# a virtual environment keyed by the pinned requirements, the collection on the
# collections path, the Go-built binaries in the cache) and then runs a job.
#   hack/run.sh demo | test | sanity | lint | package | docs | unit | integration | molecule | bench | down | setup
#   hack/run.sh exec COMMAND [ARGS...]   (any command in the same environment)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export GITOPS_PROGRESSIVE_CACHE=${GITOPS_PROGRESSIVE_CACHE:-$HOME/.cache/gitops-progressive}
CACHE=$GITOPS_PROGRESSIVE_CACHE
PYTHON=${PYTHON:-python3}
REQ_HASH=$(sha256sum < "$ROOT/requirements/python.txt" | cut -c1-12)
VENV=$CACHE/venv-$REQ_HASH
BUILD=$ROOT/.build

log() { printf '\n==> %s\n' "$*" >&2; }

# The Debian packages of requirements/debian.txt (all of them, or with "checks" only those
# the static checks and unit tests use: the lines before the first blank line) that are missing.
setup_debian() {
  local missing=() which=${1:-all}
  while read -r pkg; do
    [[ $which == checks && -z $pkg ]] && break
    [[ -z "$pkg" || "$pkg" == \#* ]] && continue
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done < "$ROOT/requirements/debian.txt"
  if ((${#missing[@]})); then
    log "installing Debian packages: ${missing[*]}"
    local sudo=""; [[ $(id -u) -eq 0 ]] || sudo=sudo
    $sudo apt-get update -qq
    # Packages with a service (openssh-server, postgresql) must not start it on the machine's
    # interfaces: service starts are refused for the install (policy-rc.d, as in containers).
    local policy=/usr/sbin/policy-rc.d added=""
    if [[ ! -e $policy ]]; then
      printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod 0755 "$policy" && added=1
    fi
    local rc=0
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" || rc=$?
    [[ -z $added ]] || $sudo rm -f "$policy"
    [[ $rc -eq 0 ]] || exit "$rc"
    # Their packages enable the services for the next boot: the tests start sshd themselves, on
    # 127.0.0.1 only, so the ssh service this install brought is disabled (where systemd runs).
    if [[ " ${missing[*]} " == *" openssh-server "* && -d /run/systemd/system ]]; then
      $sudo systemctl disable --now ssh.service >/dev/null 2>&1 || true
    fi
  fi
  [[ $which == checks ]] && return
  command -v go >/dev/null || { echo "Go 1.24 or later is needed on PATH to build the simulated platform" >&2; exit 1; }
}

setup_venv() {
  # Two runs at once (a test run and a benchmark) must not build the same environment twice.
  mkdir -p "$CACHE"
  exec {venv_lock}>"$CACHE/venv.lock"
  flock "$venv_lock"
  if [[ ! -f $VENV/.complete ]]; then
    log "creating the virtual environment $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -r "$ROOT/requirements/python.txt"
    touch "$VENV/.complete"
  fi
  flock -u "$venv_lock"
  export PATH=$VENV/bin:$PATH VIRTUAL_ENV=$VENV
}

setup_collection() {
  # The collection is used in place: the checkout is linked in as gitops.progressive,
  # and that link's directory is the whole collections path (kubernetes.core and
  # community.hashi_vault come from the virtual environment's `ansible` package).
  # Ansible's home is under .build too, so whatever the user installed under
  # ~/.ansible (an older copy of this collection included) is neither seen nor
  # touched by ansible-playbook, ansible-lint, molecule or pytest.
  mkdir -p "$BUILD/collections/ansible_collections/gitops" "$BUILD/ansible-home"
  ln -sfn "$ROOT" "$BUILD/collections/ansible_collections/gitops/progressive"
  export ANSIBLE_HOME=$BUILD/ansible-home
  export ANSIBLE_COLLECTIONS_PATH=$BUILD/collections
  export ANSIBLE_CONFIG=$ROOT/ansible.cfg
  export PYTHONPATH=$BUILD/collections${PYTHONPATH:+:$PYTHONPATH}
}

setup() { setup_debian "${1:-all}"; setup_venv; setup_collection; }

# Copy of the tracked tree under ansible_collections/ for ansible-test, which wants
# the collection at its real path, not through a link.
sanity_tree() {
  local dest=$BUILD/sanity/ansible_collections/gitops/progressive
  rm -rf "$dest"; mkdir -p "$dest"
  (cd "$ROOT" && git ls-files -z -co --exclude-standard \
    | while IFS= read -r -d '' file; do [[ -e $file ]] && printf '%s\0' "$file"; done \
    | xargs -0 cp --parents -a -t "$dest")
  (cd "$dest" && git init -q . && git add -A >/dev/null)
  # The collections this one depends on, where ansible-test looks for them.
  local site
  site=$(python -c 'import ansible_collections.kubernetes.core as c, os; print(os.path.dirname(os.path.dirname(os.path.dirname(list(c.__path__)[0]))))')
  for dependency in kubernetes/core community/hashi_vault; do
    rm -rf "$BUILD/sanity/ansible_collections/$dependency"
    mkdir -p "$BUILD/sanity/ansible_collections/${dependency%/*}"
    cp -a "$site/ansible_collections/$dependency" "$BUILD/sanity/ansible_collections/$dependency"
  done
  echo "$dest"
}

run_sanity() {
  log "ansible-test sanity"
  # ansible-test bootstraps pip in its venvs with a script from a host not reachable here.
  local pip_version
  pip_version=$(python -c 'from ansible_test._internal.python_requirements import get_venv_packages as g
import inspect, re; print(re.search(r"pip=.([0-9.]+)", inspect.getsource(g)).group(1))')
  mkdir -p "$HOME/.ansible/test/cache"
  cp "$ROOT/hack/get_pip.py" "$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
  local tree; tree=$(sanity_tree)
  (cd "$tree" && ansible-test sanity --python 3.11 --requirements --color no)
}

run_lint() {
  log "ansible-lint (production profile)"
  (cd "$ROOT" && ansible-lint --profile production)
}

run_package() {
  log "the collection as Galaxy gets it: build, contents, galaxy-importer"
  (cd "$ROOT" && python -m pytest -q -p no:cacheprovider tests/package --junitxml="$BUILD/junit-package.xml")
}

# The docs site: antsibull-docs lays it out (plugin and role pages, the user guide of
# docs/docsite), sphinx builds it with warnings as errors, offline (hack/docs_site.py).
run_docs() {
  log "the docs site (antsibull-docs, sphinx): $BUILD/docs/build/html/index.html"
  local site=$BUILD/docs
  rm -rf "$site"; mkdir -p "$site"
  (cd "$ROOT" && antsibull-docs sphinx-init --use-current --dest-dir "$site" gitops.progressive >/dev/null)
  python "$ROOT/hack/docs_site.py" "$site"
  (cd "$site" && ./build.sh > "$site/build.log" 2>&1) || { tail -n 40 "$site/build.log"; return 1; }
  python "$ROOT/hack/docs_site.py" --check "$site"
}

run_unit() {
  log "unit tests"
  (cd "$ROOT" && python -m pytest -q tests/unit --junitxml="$BUILD/junit-unit.xml")
}

# Two workers, a test module each at a time (module and session fixtures stay whole, each
# worker with its own session cluster on free ports): the tests mostly wait for analyses,
# so two clusters share the two cores well. The longest modules are handed out first:
# pytest collects in the order of its arguments when each is a file, and
# --no-loadscope-reorder keeps xdist from reordering them by their number of tests.
INTEGRATION_FIRST="test_staging_production.py test_seed_flows.py test_flux_gitops.py test_release_engine.py"
run_integration() {
  local files="" name
  for name in $INTEGRATION_FIRST; do files="$files tests/integration/$name"; done
  for name in "$ROOT"/tests/integration/test_*.py; do
    case " $INTEGRATION_FIRST " in *" ${name##*/} "*) ;; *) files="$files tests/integration/${name##*/}" ;; esac
  done
  log "integration tests on the simulated platform (${INTEGRATION_WORKERS:-2} workers, a module at a time)"
  # shellcheck disable=SC2086
  (cd "$ROOT" && python -m pytest -q -n "${INTEGRATION_WORKERS:-2}" --dist loadfile --no-loadscope-reorder $files \
     --junitxml="$BUILD/junit-integration.xml")
}

# One closing line for the whole run, from the test reports and the molecule scenarios.
MOLECULE_SCENARIOS=(default flux mesh flagger apps vault)
MOLECULE_ARGS=()
for scenario in "${MOLECULE_SCENARIOS[@]}"; do MOLECULE_ARGS+=(-s "$scenario"); done
summary() {
  python "$ROOT/hack/summary.py" --molecule "${#MOLECULE_SCENARIOS[@]}" "$BUILD"/junit-*.xml
}

# Molecule's scenarios use the roles' fixed default ports, which are also the ports of the
# platform `make demo` leaves running: a scenario would take the demo's git server or
# Flagger for its own. Refuse up front, naming what holds them.
check_default_ports() {
  local ports held=""
  ports=$(grep -hoE '^[a-z_]+_port(_base)?: [0-9]+' "$ROOT"/roles/*/defaults/main.yml | awk '$2 > 0 {print $2}' | sort -u)
  for port in $ports; do
    local line
    line=$(ss -ltnpH "sport = :$port" 2>/dev/null | head -n 1)
    [ -n "$line" ] && held="$held
  port $port: $(grep -oE 'users:\(\("[^"]+",pid=[0-9]+' <<<"$line" | sed 's/users:((//; s/"//g; s/,/ /')"
  done
  if [ -n "$held" ]; then
    echo "The roles' default ports are in use (the platform \`make demo\` started is still running?):$held" >&2
    echo "Stop it first with \`make down\`, then run the tests again." >&2
    exit 1
  fi
}

run_molecule() {
  # The default scenario creates the shared cluster first and destroys it last; the role
  # scenarios converge on it in the order the platform is built.
  log "molecule: default, flux, mesh, flagger, apps and vault scenarios"
  (cd "$ROOT" && molecule test "${MOLECULE_ARGS[@]}")
}

job=${1:-test}
# The static checks, the package and docs checks and the unit tests need neither Go nor the
# platform's services (PostgreSQL, containerd, ...): only what a contributor's clone needs.
case "$job" in
  sanity|lint|package|docs|unit) setup checks ;;
  *) setup ;;
esac
case "$job" in
  setup) ;;
  demo) (cd "$ROOT" && ansible-playbook playbooks/demo.yml) ;;
  down) (cd "$ROOT" && ansible-playbook playbooks/teardown.yml) ;;
  sanity) run_sanity ;;
  package) run_package ;;
  docs) run_docs ;;
  lint) run_lint ;;
  unit) rm -f "$BUILD"/junit-*.xml; run_unit ;;
  integration) run_integration ;;
  molecule) check_default_ports; run_molecule ;;
  bench) (cd "$ROOT" && python benchmarks/run.py "${@:2}") ;;
  exec) (cd "$ROOT" && exec "${@:2}") ;;
  test)
    check_default_ports
    # A cold cache means a long Go build: run it beside the static checks, wait before
    # the tests that need the binaries. Tracked by PID, its log in the cache.
    mkdir -p "$CACHE/logs"
    rm -f "$BUILD"/junit-*.xml
    (cd "$ROOT" && exec setsid ansible-playbook playbooks/binaries.yml > "$CACHE/logs/binaries.log" 2>&1) &
    build_pid=$!
    # If a check fails first, the build (its own process group) is stopped with us.
    trap 'kill -- "-$build_pid" 2>/dev/null || true' EXIT
    run_sanity; run_lint; run_package; run_docs; run_unit
    log "waiting for the binaries (log: $CACHE/logs/binaries.log)"
    # sim_binaries prints what it builds, a line per component every 30 s and when each
    # ends: show those lines from the log's start until the build process exits.
    tail -n +1 -f --pid="$build_pid" "$CACHE/logs/binaries.log" \
      | grep --line-buffered -E '^(sim_binaries: |building |built |found )' >&2 || true
    wait "$build_pid" || { tail -n 40 "$CACHE/logs/binaries.log"; exit 1; }
    # Molecule's scenarios use the roles' fixed default ports (below 20000), the integration
    # tests per-worker slices between 20000 and the kernel's ephemeral range, and kwok clusters start one
    # at a time machine-wide: both run at once, molecule into its log, its own process group.
    log "molecule scenarios in the background (log: $BUILD/molecule.log)"
    (cd "$ROOT" && exec setsid molecule test "${MOLECULE_ARGS[@]}" > "$BUILD/molecule.log" 2>&1) &
    molecule_pid=$!
    trap 'kill -- "-$build_pid" 2>/dev/null || true; kill -- "-$molecule_pid" 2>/dev/null || true' EXIT
    integration_rc=0
    run_integration || integration_rc=$?
    log "waiting for molecule (log: $BUILD/molecule.log)"
    molecule_rc=0
    wait "$molecule_pid" || molecule_rc=$?
    sed 's/\x1b\[[0-9;]*m//g' "$BUILD/molecule.log" | grep -E 'Executed|Molecule executed' >&2 || true
    if [ "$molecule_rc" -ne 0 ]; then tail -n 80 "$BUILD/molecule.log"; fi
    [ "$integration_rc" -eq 0 ] && [ "$molecule_rc" -eq 0 ] || exit 1
    summary ;;
  *) echo "usage: $0 demo|test|sanity|lint|package|docs|unit|integration|molecule|bench|down|setup|exec COMMAND..." >&2; exit 2 ;;
esac
