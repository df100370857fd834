"""The pure domain core: events, money, the fold, contributions, windows.

Nothing in this package imports faust, aiokafka or prometheus_client; a unit
test asserts it, so the core can be reasoned about and tested without Kafka.
"""
