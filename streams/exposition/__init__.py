"""What Prometheus sees of the domain's aggregates: the business part of /metrics.

`catalogue` names the families (HELP texts, types, labels); `samples` turns the
aggregates into exported samples (cumulative buckets, running totals of active
deals, the exported windows); `seller_cap` bounds the `seller` label;
`export_cache` keeps the body up to date between scrapes, and `text` writes it
in the Prometheus text format. The domain (`streams.domain`) imports nothing
from here; a unit test asserts it.
"""
