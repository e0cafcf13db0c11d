"""The conditions that judge a data provider (an API PSC and its authorization server), by theme."""
