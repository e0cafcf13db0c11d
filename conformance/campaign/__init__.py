"""The campaign machinery, the same for every role.

The pytest plugin owns a campaign's life (configuration, bring-up of the system under test, time
bounds, the journal, results and report); conditions turn evidence into judgements with a basis and a
strength; verdicts aggregate them per requirement; results are written as `results.json`; coverage
tells which requirements some scenario verifies; the matrices run many campaigns to prove the
conditions in both directions.
"""
