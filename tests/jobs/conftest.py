"""Job tests drive real channels and relayed requests against the mock upstream: borrow the relay's fixtures."""

from tests.relay.conftest import make_channel, make_token, mock_upstream  # noqa: F401 - pytest fixtures
