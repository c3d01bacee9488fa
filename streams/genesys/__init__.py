"""Protocol code for Genesys Cloud Agent Assist, in plain Python (no Django imports).

Everything here can be unit-tested without a database: OAuth tokens, REST calls that
honour Retry-After, wire payloads, frame decoding, scoring and the insights client.
"""
