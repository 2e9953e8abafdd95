"""The ledger: immutable events, the event store, import and rulesets."""
