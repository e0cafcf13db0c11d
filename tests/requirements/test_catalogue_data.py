"""The packaged catalogues say what the sources say: ids, applicability, levels, methods."""

from __future__ import annotations

import re

import pytest

from conformance.requirements import (
    Catalogue,
    Level,
    Method,
    Requirement,
    Role,
    get_requirement,
    load_catalogues,
    requirement_index,
)

# Independent oracle: the FS/FD table of §2.3 of the Référentiel PSC v1.8, transcribed by hand
# (True = "Oui"). It must not be derived from the TOML file it checks.
REFERENTIAL_TABLE: dict[str, tuple[bool, bool]] = {
    "EXI PSC 01": (True, True),
    "EXI PSC 02": (True, True),
    "EXI PSC 03": (True, False),
    "EXI PSC 04": (True, True),
    "EXI PSC 05": (True, True),
    "EXI PSC 06": (True, True),
    "EXI PSC 07": (True, True),
    "EXI PSC 08": (True, True),
    "EXI PSC 09": (True, True),
    "EXI PSC 10": (True, True),
    "EXI PSC 11": (True, False),
    "EXI PSC 12": (True, True),
    "EXI PSC 13": (True, True),
    "EXI PSC 14": (True, True),
    "EXI PSC 15": (True, True),
    "EXI PSC 16": (True, True),
    "EXI PSC 17": (True, True),
    "EXI PSC 18": (True, False),
    "EXI PSC 19": (True, False),
    "EXI PSC 20": (True, False),
    "EXI PSC 21": (True, True),
    "EXI PSC 22": (True, True),
    "EXI PSC 23": (True, True),
    "EXI PSC 24": (True, True),
    "EXI PSC 25": (True, True),
    "EXI PSC 26": (True, True),
    "EXI PSC 27": (True, True),
    "EXI PSC 28": (True, False),
    "EXI PSC 29": (True, False),
    "EXI PSC 30": (True, False),
    "EXI PSC 31": (True, False),
    "EXI PSC 32": (True, False),
    "EXI PSC 33": (True, True),
    "RECO PSC 01": (True, True),
    "RECO PSC 02": (True, True),
    "RECO PSC 03": (True, False),
    "RECO PSC 04": (True, False),
    "RECO PSC 05": (True, True),
    "RECO PSC 06": (True, False),
}

# Verification methods fixed by the project's reading of the referential for a server-side proxy.
AUTOMATIC = {f"EXI PSC {n:02d}" for n in (8, 9, 10, 11, 15, 16, 17, 18, 20, 21, 24, 32)}
PARTIAL = {"EXI PSC 06", "EXI PSC 12", "EXI PSC 22", "EXI PSC 23", "EXI PSC 31"} | {
    "RECO PSC 02",
    "RECO PSC 05",
    "RECO PSC 06",
}

IG_BASE = "https://interop.esante.gouv.fr/ig/securisation-transport/1.2.0"
IG_PAGES = {
    "principes_securisation",
    "standards",
    "api_prosanteconnectee_web",
    "api_prosanteconnectee_client_lourd",
    "api_prosanteconnectee_web_erreurs",
}


def _catalogue(catalogue_id: str) -> Catalogue:
    return next(c for c in load_catalogues() if c.id == catalogue_id)


def _all() -> list[Requirement]:
    return [r for c in load_catalogues() for r in c.requirements]


def test_catalogues_come_in_report_order_with_their_versions() -> None:
    catalogues = load_catalogues()
    assert [(c.id, c.version) for c in catalogues] == [
        ("referentiel-psc", "1.8"),
        ("ig-securisation-transport", "1.2.0"),
        ("edc-proxy", "1.0"),
        ("harness", "1"),
    ]
    assert _catalogue("ig-securisation-transport").url == IG_BASE
    assert _catalogue("harness").title == {
        "fr": "Contrôles préalables du banc de test",
        "en": "Harness self-checks",
    }
    for catalogue in catalogues:
        assert catalogue.source.strip()
        assert catalogue.title["fr"].strip() and catalogue.title["en"].strip()


def test_loading_is_cached() -> None:
    assert load_catalogues() is load_catalogues()


def test_referential_holds_exactly_the_39_ids() -> None:
    ids = [r.id for r in _catalogue("referentiel-psc").requirements]
    assert len(ids) == 39
    assert set(ids) == set(REFERENTIAL_TABLE)


@pytest.mark.parametrize("requirement_id", sorted(REFERENTIAL_TABLE))
def test_referential_applicability_matches_the_fs_fd_table(requirement_id: str) -> None:
    requirement = get_requirement(requirement_id)
    fs, fd = REFERENTIAL_TABLE[requirement_id]
    assert requirement.applies(Role.CONSUMER) is fs
    assert requirement.applies(Role.PROVIDER) is fd


def test_referential_levels_follow_the_id_prefix() -> None:
    for requirement in _catalogue("referentiel-psc").requirements:
        expected = Level.MANDATORY if requirement.id.startswith("EXI ") else Level.RECOMMENDED
        assert requirement.level is expected, requirement.id


def test_referential_methods_follow_the_project_reading() -> None:
    for requirement in _catalogue("referentiel-psc").requirements:
        if requirement.id in AUTOMATIC:
            expected = Method.AUTOMATIC
        elif requirement.id in PARTIAL:
            expected = Method.PARTIAL
        else:
            expected = Method.DECLARATIVE
        assert requirement.method is expected, requirement.id


def test_referential_sources_cite_a_section() -> None:
    for requirement in _catalogue("referentiel-psc").requirements:
        assert re.match(r"^Référentiel PSC v1\.8 §2\.\d+ \S", requirement.source), requirement.id


def test_every_requirement_has_a_source_and_short_titles_in_both_languages() -> None:
    for requirement in _all():
        assert requirement.source.strip(), requirement.id
        for lang in ("fr", "en"):
            title = requirement.title.get(lang, "")
            assert title.strip(), (requirement.id, lang)
            assert len(title) <= 120, (requirement.id, lang, "titles are short")
            assert not title.endswith("."), (requirement.id, lang)
        assert set(requirement.notes) <= {"fr", "en"}


def test_ids_are_unique_and_numbered_without_gaps() -> None:
    index = requirement_index()
    assert len(index) == len(_all())
    for catalogue_id, prefix in (
        ("ig-securisation-transport", "IG-SEC-"),
        ("edc-proxy", "EDC-"),
        ("harness", "HARNESS-"),
    ):
        ids = [r.id for r in _catalogue(catalogue_id).requirements]
        assert ids == [f"{prefix}{n:02d}" for n in range(1, len(ids) + 1)]


def test_ig_rules_cite_an_ig_page() -> None:
    catalogue = _catalogue("ig-securisation-transport")
    assert len(catalogue.requirements) >= 16
    for requirement in catalogue.requirements:
        assert requirement.url is not None, requirement.id
        match = re.fullmatch(re.escape(IG_BASE) + r"/([a-z_]+)\.html", requirement.url)
        assert match and match.group(1) in IG_PAGES, requirement.id
        assert requirement.source.startswith("IG 1.2.0, "), requirement.id
        assert f"{match.group(1)}.html" in requirement.source, "source and url cite the same page"


def test_ig_tls_rules_have_the_expected_levels() -> None:
    by_title = {r.title["en"]: r for r in _catalogue("ig-securisation-transport").requirements}
    assert by_title["TLS 1.2 or higher on every hop"].level is Level.MANDATORY
    assert by_title["TLS 1.3 recommended"].level is Level.RECOMMENDED
    assert by_title["TLS 1.0, TLS 1.1 and SSL refused"].level is Level.MANDATORY


def test_edc_rules_judge_the_proxy_and_the_api_psc() -> None:
    """EDC-01..16 judge the proxy; EDC-17 and EDC-18 the API PSC a data provider serves."""
    catalogue = _catalogue("edc-proxy")
    assert len(catalogue.requirements) >= 18
    for requirement in catalogue.requirements:
        expected = Role.PROVIDER if requirement.id in ("EDC-17", "EDC-18") else Role.CONSUMER
        assert requirement.applies_to == frozenset({expected}), requirement.id


def test_harness_self_checks_apply_to_both_roles_and_are_automatic() -> None:
    catalogue = _catalogue("harness")
    assert [r.id for r in catalogue.requirements] == ["HARNESS-01", "HARNESS-02", "HARNESS-03", "HARNESS-04"]
    for requirement in catalogue.requirements:
        assert requirement.applies_to == frozenset(Role)
        assert requirement.method is Method.AUTOMATIC
        assert requirement.level is Level.MANDATORY
        assert requirement.source == "psc-conformance"


def test_requirement_index_is_a_fresh_copy() -> None:
    index = requirement_index()
    index.pop("EXI PSC 01")
    assert "EXI PSC 01" in requirement_index()


def test_unknown_id_error_suggests_the_right_spelling() -> None:
    with pytest.raises(KeyError) as caught:
        get_requirement("EXI PSC 7")
    message = str(caught.value)
    assert "'EXI PSC 7'" in message
    assert message.index("'EXI PSC 07'") < message.index("'EXI PSC 17'")
    with pytest.raises(KeyError, match="IG-SEC-01"):
        get_requirement("ig-sec-1")
