"""Test professionals known to the simulated PSC, and the `scope_all` userinfo they produce."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.errors import UsageError
from conformance.paths import project_root

_FIELDS = {
    "national_id",
    "sub",
    "given_name",
    "family_name",
    "profession_code",
    "profession_category",
    "speciality",
    "structure_name",
    "structure_id",
}


@dataclass(frozen=True)
class TestIdentity:
    """A professional: `national_id` is SubjectNameID (idNat_PS); `sub` is PSC's technical id."""

    __test__ = False  # not a pytest test class despite the name

    national_id: str
    sub: str
    given_name: str
    family_name: str
    profession_code: str = "10"
    profession_category: str = "C"
    speciality: str = ""
    structure_name: str = ""
    structure_id: str = ""

    def userinfo(self) -> dict[str, Any]:
        """The userinfo document of `scope_all`, with the field names PSC uses."""
        activity = {
            "codeModeExercice": "L",
            "codeSecteurDactivite": "SA07",
            "codeSectionPharmacien": "",
            "codeRole": "FON-01",
            "codeGenreActivite": "GENR01",
            "numeroSiretSite": self.structure_id[1:] if self.structure_id else "",
            "numeroSirenSite": self.structure_id[1:10] if self.structure_id else "",
            "numeroFinessSite": "",
            "numeroFinessetablissementJuridique": "",
            "identifiantTechniqueDeLaStructure": f"R10000{self.structure_id[-6:]}"
            if self.structure_id
            else "",
            "raisonSocialeSite": self.structure_name,
            "enseigneCommercialeSite": "",
            "codePostal": "75015",
            "codeCommune": "75115",
            "codePays": "99000",
            "codeDepartement": "75",
        }
        return {
            "sub": self.sub,
            "SubjectNameID": self.national_id,
            "preferred_username": self.national_id,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "email_verified": False,
            "SubjectOrganization": self.structure_name,
            "SubjectOrganizationID": self.structure_id,
            "SubjectRole": [f"{self.profession_code}^1.2.250.1.213.1.1.5.5"],
            "Secteur_Activite": "SA07^1.2.250.1.71.4.2.4",
            "Palier_Authentification": "APPPRIP3^1.2.250.1.213.1.5.1.1.1",
            "Mode_Acces_Raison": "",
            "Acces_Regulation_Medicale": "FAUX",
            "UITVersion": "1.0",
            "otherIds": [{"identifiant": self.national_id, "origine": "RPPS", "qualite": 1}],
            "SubjectRefPro": {
                "codeCivilite": "",
                "exercices": [
                    {
                        "codeProfession": self.profession_code,
                        "codeCategorieProfessionnelle": self.profession_category,
                        "codeCiviliteDexercice": "DR" if self.profession_code == "10" else "",
                        "nomDexercice": self.family_name,
                        "prenomDexercice": self.given_name,
                        "codeTypeSavoirFaire": "S" if self.speciality else "",
                        "codeSavoirFaire": self.speciality,
                        "activities": [activity],
                    }
                ],
            },
        }


def load_identities(path: Path | None = None) -> tuple[TestIdentity, ...]:
    """Identities from a TOML file (default: the harness's `fixtures/identities.toml`)."""
    path = path or project_root() / "fixtures" / "identities.toml"
    try:
        entries = tomllib.loads(path.read_text(encoding="utf-8")).get("identity", [])
    except FileNotFoundError:
        raise UsageError(f"identities file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    identities = []
    for number, entry in enumerate(entries, start=1):
        unknown = set(entry) - _FIELDS
        if unknown:
            raise UsageError(f"{path}: identity #{number}: unknown key(s) {sorted(unknown)}")
        try:
            identities.append(TestIdentity(**{k: str(v) for k, v in entry.items()}))
        except TypeError as exc:
            raise UsageError(f"{path}: identity #{number}: {exc}") from None
        if identities[-1].sub == identities[-1].national_id:
            raise UsageError(f"{path}: identity #{number}: sub must differ from national_id (EXI PSC 18)")
    if not identities:
        raise UsageError(f"{path}: no [[identity]] entries")
    return tuple(identities)
