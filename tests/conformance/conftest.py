from tests.integration.conftest import server  # noqa: F401  (the live-server fixture of the integration tier)
