"""The specifications the harness speaks, one module each: pure parsers and rules, no I/O.

Both sides use them: the counterparts the harness plays (PSC, the API's authorization server) and the
conditions that judge a system under test. A reader looks for PKCE in `rfc7636`, for token exchange in
`rfc8693`, wherever it is used.
"""
