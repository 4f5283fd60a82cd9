#!/usr/bin/env bash
# The whole test suite, from a brand-new machine: installs what it needs (apt packages, .venv, a
# Docker engine, the lab host image for test hosts), then runs ansible-lint, syntax checks, and pytest, which
# covers the unit tests, the integration tests and every Molecule scenario. Extra arguments go to
# pytest (e.g. `scripts/test.sh -k kernel`).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

scripts/bootstrap.sh --test

dockerd_pid=$(scripts/start-dockerd.sh)
stop_dockerd() {
  if [ -n "$dockerd_pid" ]; then
    kill "$dockerd_pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 1; done
  fi
}
trap stop_dockerd EXIT

# Test hosts left by an interrupted earlier run (ours, by label) would hold names and memory. Every
# container and network made from lab/host.yml carries the label clearstack.lab-host=<who made it>:
# remove those of Molecule and pytest, and the labs the tests made (lab:pytest-*), never a user's
# `clearstack lab` (lab:<name>).
test_made() { awk '$2 !~ /^lab:/ || $2 ~ /^lab:pytest-/ {print $1}'; }
leftovers=$(docker ps -a --filter label=clearstack.lab-host --format '{{.ID}} {{.Label "clearstack.lab-host"}}' | test_made)
[ -z "$leftovers" ] || docker rm -f -v $leftovers >/dev/null
leftover_nets=$(docker network ls --filter label=clearstack.lab-host --format '{{.ID}} {{.Label "clearstack.lab-host"}}' | test_made)
[ -z "$leftover_nets" ] || docker network rm $leftover_nets >/dev/null

lab/build-host-image.sh
# Built here, once, before tests on two workers could both start building it.
tests/images/build-standin-image.sh >/dev/null
# The real MinIO server the dataset tests run (compiled from its Go module once per machine, then cached).
tests/images/build-minio.sh >/dev/null

export PATH="$root/.venv/bin:$PATH" ANSIBLE_FORCE_COLOR=0 NO_COLOR=1 CLEARSTACK_REQUIRE_DOCKER=1

echo "== ansible-lint (production profile)"
ansible-lint --profile production --offline -q

echo "== ruff (Python defects)"
ruff check --quiet .

echo "== syntax check of every playbook"
for playbook in playbooks/*.yml; do
  ansible-playbook --syntax-check -i inventory/sample "$playbook" >/dev/null
done

echo "== pytest: unit, integration, Molecule scenarios"
# Two workers for two cores; each test file runs on one worker, so a module-scoped test host is made once.
# Files start in collection order, the slowest first (tests/conftest.py), not by their count of tests.
# The 25 slowest tests are listed at the end (docs/testing.md keeps a run's list).
# Tables some tests publish (tests/reports.py) are printed after the run, pass or fail.
CLEARSTACK_REPORT_DIR=$(mktemp -d)
export CLEARSTACK_REPORT_DIR
status=0
pytest -n 2 --dist loadfile --no-loadscope-reorder --durations=25 "$@" || status=$?
echo
python tests/reports.py "$CLEARSTACK_REPORT_DIR"
rm -rf "$CLEARSTACK_REPORT_DIR"
exit $status
