"""Events: the transactional outbox, webhook subscriptions and signed, retried delivery."""
