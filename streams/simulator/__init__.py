"""A fake Genesys Cloud that speaks PROTOCOL.md, with fault injection, for demos and tests."""
