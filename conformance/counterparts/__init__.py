"""The counterparts the harness plays around a system under test, over real TLS on loopback.

Each one serves what the real service would, and records what the SUT did as observations
(`observations.ObservationLog`) for the scenarios to judge; none of them judges by itself.
"""
