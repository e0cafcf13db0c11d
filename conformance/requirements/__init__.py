"""Requirement catalogues: the EXI/RECO referential, the transport-security IG, the EdC proxy rules
and the harness self-checks, loaded from packaged TOML files.

Everything that needs a requirement (scenarios, verdicts, reports, the CLI) goes through this
module, so ids, titles and applicability have a single source of truth.
"""

from conformance.requirements.loader import (
    CATALOGUE_FILES,
    ID_PATTERNS,
    CatalogueError,
    UnknownRequirementError,
    get_requirement,
    load_catalogue_file,
    load_catalogues,
    requirement_index,
)
from conformance.requirements.model import Catalogue, Level, Method, Requirement
from conformance.roles import Role

__all__ = [
    "CATALOGUE_FILES",
    "ID_PATTERNS",
    "Catalogue",
    "CatalogueError",
    "Level",
    "Method",
    "Requirement",
    "Role",
    "UnknownRequirementError",
    "get_requirement",
    "load_catalogue_file",
    "load_catalogues",
    "requirement_index",
]
