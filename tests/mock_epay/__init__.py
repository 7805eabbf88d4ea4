"""A mock epay (易支付) gateway for the online top-up tests."""

from .server import MockEpay

__all__ = ["MockEpay"]
