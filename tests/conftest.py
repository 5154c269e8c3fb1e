"""Shared test configuration: the kubeloop pytest plugin provides the control-plane fixtures."""

from hypothesis import settings

# Hypothesis's default 200 ms deadline per example is a timing assertion: on a loaded machine it fails
# property tests whose properties hold (tests/unit/olm/test_olm_semver.py at load 40+). Speed is
# measured in bench/, not asserted in tests.
settings.register_profile("kubeloop", deadline=None)
settings.load_profile("kubeloop")
