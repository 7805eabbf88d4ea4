"""Job tests drive real channels against the mock upstream: borrow the relay's fixtures."""

from tests.relay.conftest import make_channel, mock_upstream  # noqa: F401 - pytest fixtures
