"""A mock Stripe (Checkout Sessions and signed webhooks) for the Stripe top-up tests."""

from .server import MockStripe, stripe_signature

__all__ = ["MockStripe", "stripe_signature"]
