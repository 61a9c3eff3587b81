"""The in-process service fixtures (``tests/e2e/processor_harness.py``) for the SIEM tests."""

from tests.e2e.processor_harness import m365sim, m365sim_server, service, service_factory  # noqa: F401
