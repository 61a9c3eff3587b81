"""The in-process service fixtures (``tests/e2e/processor_harness.py``) for the e2e tests."""

from tests.e2e.processor_harness import m365sim, m365sim_server, pages, service, service_factory  # noqa: F401
