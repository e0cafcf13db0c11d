"""Exit status of `psc-conformance run` (BRIEF §4), shared by every command."""

OK = 0  # no requirement failed
REQUIREMENT_FAILED = 1  # at least one requirement failed
USAGE = 2  # usage or configuration error
HARNESS_OR_SUT = 3  # the SUT could not be reached or the harness itself failed
