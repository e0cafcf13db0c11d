"""The reference Proxy e-Santé (consumer SUT): the API Conformité in front of PSC and the API PSC."""
