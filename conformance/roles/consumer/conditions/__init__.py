"""The conditions that judge a Proxy e-Santé, one module per theme of its campaign."""
