from tests.console.conftest import analyst, client, runtime  # noqa: F401
from tests.e2e.processor_harness import m365sim, m365sim_server, service, service_factory  # noqa: F401
