#!/usr/bin/env bash
# The one command that runs every test on a fresh machine (the README's test
# command; .ci/run calls it). It installs what the tests need (podman, runc,
# debootstrap, OpenSSH, dpkg-dev, GnuPG), builds the Debian test image and fleet
# and the platform test hosts,
# then runs formatting and lint checks, unit tests and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s (%ss)\n' "$1" "$SECONDS"; }

step "install test dependencies"
bash tests/fleet/fleet.sh deps
# Every tool is installed now: a test that would skip for want of one fails.
export HALITE_REQUIRE_TOOLS=1

step "format and lint"
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings

step "build"
cargo build --locked --all-targets

step "test fleet"
bash tests/fleet/fleet.sh up 4 --with-pod
# The rhel, suse, arch, openrc and sysv hosts of tests/platforms.rs (the
# harness would start them too; here their build time shows in the log).
bash tests/fleet/fleet.sh up-platforms

step "unit and integration tests"
cargo test --locked --no-fail-fast -- --test-threads 2

# Unit tests of the grains, apt and systemd scripts run straight in a fleet
# container (no SSH): ignored by a plain `cargo test`, run here, after the
# fleet tests, so nothing else uses node3 meanwhile.
step "in-container unit tests"
# (The dnf/yum ones need the container tests/compat/gen_platform_dnf.sh
# builds, with its versionlock plugin and extra packages: run by hand there,
# `HALITE_TEST_CONTAINER=<it> cargo test --lib -- --ignored dnf_ yum_repo`;
# the fleet's rhel host runs tests/platform_dnf.rs above.)
HALITE_TEST_CONTAINER=${HALITE_FLEET_PREFIX:-halite-}node3 \
    cargo test --locked --lib -- --ignored --test-threads 1 \
    --skip dnf_functions_in_a_container --skip dnf_states_converge_in_a_container \
    --skip yum_repo_converges_in_a_container

step "done"
