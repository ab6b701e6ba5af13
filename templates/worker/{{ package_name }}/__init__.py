"""The notification worker: one notification per `order.created` event, exactly once."""

__version__ = "0.1.0"
