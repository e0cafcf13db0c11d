"""pytest options every session of a campaign shares; no pytest import, for the CLI's sake (it only
builds the command line of the campaign process)."""

from __future__ import annotations

from typing import Final

# pytest's plugins that no scenario uses (doctests, unittest classes, pastebin, --setup-show, subtests):
# each session of a campaign (the coordinator's, every worker's) would load and call them for nothing.
UNUSED_PLUGINS: Final = ("doctest", "unittest", "pastebin", "setuponly", "setupplan", "subtests")
UNUSED_PLUGIN_OPTIONS: Final = tuple(arg for name in UNUSED_PLUGINS for arg in ("-p", f"no:{name}"))
