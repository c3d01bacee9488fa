"""Customers' personal data, for the people allowed near it: finding a data subject by a keyed
hash, erasing a conversation on request (four-eyes, legal holds respected, the chain left
whole), revealing one item's sealed original for a stated reason, and the record of
processing. Detection itself happens at ingest (streams.privacy)."""
