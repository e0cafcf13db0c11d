"""`python -m conformance.reference.consumer [--config FILE] [--fault NAME]... [--variant NAME]...`.

The same as `psc-conformance reference consumer`, for a machine where the console script is not on PATH.
"""

import sys

from conformance.cli import main

sys.exit(main(["reference", "consumer", *sys.argv[1:]]))
