"""Scenario fixtures shared by every role live in the campaign plugin (`conformance.campaign.plugin`):
`pki`, `counterparts`, `sut`, `evidence`, `checks`. They are shared by scenarios running at the same time.
"""
