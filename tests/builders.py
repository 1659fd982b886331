"""Case builders for tests: valid cases, wire records, and a deterministic random case generator.

Shared by unit and integration tests; nothing here talks to Kafka or the network.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

from rarematch.common.contracts import CASE_SUBMITTED, Case
from rarematch.common.contracts.cloudevents import WireRecord, encode
from rarematch.common.kafka.records import Inbound

__all__ = [
    "ANTIGENS",
    "DEFAULT_CASE_ID",
    "HLA_ALLELES",
    "ONCOTREE_CODES",
    "TEST_SOURCE",
    "case_dict",
    "header",
    "inbound",
    "make_case",
    "random_case",
    "random_case_dict",
    "wire_case",
    "with_headers",
]

DEFAULT_CASE_ID = "case-test-0001"
TEST_SOURCE = "/rarematch/tests"

ONCOTREE_CODES = (
    "LMS",
    "SYNS",
    "MRLS",
    "SOFT_TISSUE",
    "NBL",
    "TLL",
    "LUAD",
    "HNMASC",
    "UEC",
    "COADREAD",
    "BLL",
    "TISSUE",
    "LYMPH",
    "MYELOID",
)
"""Codes the generator draws from: sarcoma subtypes and parents, haematologic, basket cases."""

HLA_ALLELES = (
    "A*02",
    "A*02:01",
    "A*02:01:01",
    "HLA-A*02:01:01:01",
    "A*02:02",
    "A*02:05",
    "A*02:06",
    "A*24",
    "A*24:02",
    "B*07:02",
    "B*07",
    "C*07:01",
    "DRB1*15:01",
    "DRB1*04:01",
    "A*24:09N",
    "A*02:01P",
    "A*02:01:01G",
    "HLA-A*0201",
    "A*24:02:01:02L",
    "A2",
    "A9",
    "A24",
    "DR15",
)
"""Alleles at every resolution: one field (A*02) to four (A*02:01:01:01), several loci, in
the forms laboratories write (P and G groups, old style, serological antigens)."""

ANTIGENS = ("GD2", "CD7", "MAGE-A4", "HER2", "NY-ESO-1", "5T4")

_GENES = ("KRAS", "TP53", "NRAS", "ALK", "BRAF")
_PROTEIN_CHANGES = ("p.G12C", "p.G12D", "p.G12V", "p.R175H", "p.V600E", None)
_FUSION_GENES = (
    "NTRK1", "NTRK2", "NTRK3", "RET", "ETV6", "SS18", "SSX1", "ALK", "EML4", "EWSR1", "FLI1", "ERG",
)  # fmt: skip
_GERMLINE_GENES = ("MLH1", "MSH2", "MSH6", "PMS2", "EPCAM", "BRCA1", "BRCA2", "TP53")
_CLASSIFICATIONS = ("pathogenic", "likely_pathogenic", "vus", "benign")
_COUNTRIES = ("GB", "US", "CN", "IT", "DE", "FR", "CA", "NO", "HK", "JP")
_THERAPY_CLASSES = (
    "chemotherapy", "anti_GD2", "car_t", "autologous_hsct", "anthracycline", "ifosfamide",
)  # fmt: skip
_ORGAN_VALUES: dict[str, tuple[float, ...]] = {
    "creatinine_clearance_ml_min": (30, 59.9, 60, 90),
    "alt_x_uln": (1, 2.5, 3, 5.1),
    "ast_x_uln": (1, 2.5, 3),
    "bilirubin_x_uln": (0.5, 1.5, 1.51, 3),
    "lvef_percent": (40, 45, 50, 65),
    "anc_per_ul": (500, 1000, 1500),
    "platelets_per_ul": (50_000, 75_000, 150_000),
    "hemoglobin_g_dl": (7.9, 8, 12),
}


def case_dict(**overrides: Any) -> dict[str, Any]:
    """A valid case body as plain JSON data: an adult with a diagnosis; `overrides` replace keys.

    Pass `None` to drop a field (the case then does not report it).
    """
    body: dict[str, Any] = {
        "case_id": DEFAULT_CASE_ID,
        "age": {"years": 40},
        "diagnosis": {"oncotree_code": "SYNS"},
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def make_case(**overrides: Any) -> Case:
    """`case_dict(**overrides)` validated as a `Case`."""
    return Case.model_validate(case_dict(**overrides))


def wire_case(
    case: Case,
    *,
    event_type: str = CASE_SUBMITTED,
    key: str | None = None,
    event_id: str | None = None,
) -> WireRecord:
    """`case` as intake publishes it: a binary-mode CloudEvent keyed by its case id."""
    return encode(event_type, case, key=key or case.case_id, source=TEST_SOURCE, event_id=event_id)


def inbound(
    record: WireRecord, topic: str = "rarematch.cases", partition: int = 0, offset: int = 0
) -> Inbound:
    """`record` as the loop receives it, at a position in a topic."""
    return Inbound(topic, partition, offset, record)


def with_headers(
    record: WireRecord,
    *,
    drop: tuple[str, ...] = (),
    replace: Mapping[str, bytes] | None = None,
) -> WireRecord:
    """A copy of `record` without the `drop` headers and with `replace` set (added if absent)."""
    replace = dict(replace or {})
    headers = [
        (name, value) for name, value in record.headers if name not in drop and name not in replace
    ]
    headers.extend(replace.items())
    return WireRecord(record.key, record.value, tuple(headers))


def header(record: WireRecord, name: str) -> bytes | None:
    """The value of header `name` (the last one if repeated), or None."""
    found = [value for key, value in record.headers if key == name]
    return found[-1] if found else None


# --- random cases ------------------------------------------------------------------------------


def random_case(rng: random.Random, case_id: str = DEFAULT_CASE_ID) -> Case:
    """A valid case drawn from `rng`; see `random_case_dict`."""
    return Case.model_validate(random_case_dict(rng, case_id))


def random_case_dict(rng: random.Random, case_id: str = DEFAULT_CASE_ID) -> dict[str, Any]:
    """A valid case body where every section is absent, empty or filled, at random.

    Covers what the rules must tell apart: ages in years or months (or both), diagnoses across
    OncoTree levels, comprehensive profiling true/false/unreported, antigens with and without a
    percentage or intensity, HLA typing at one to four fields, germline findings with and
    without testing, performance scores, treatment history and organ function.
    """
    body: dict[str, Any] = {"case_id": case_id}
    if (age := _maybe(rng, _random_age)) is not None:
        body["age"] = age
    if (sex := rng.choice((None, "female", "male", "other"))) is not None:
        body["sex"] = sex
    if rng.random() < 0.6:
        body["country"] = rng.choice(_COUNTRIES)
    if rng.random() < 0.8:
        body["diagnosis"] = _random_diagnosis(rng)
    if rng.random() < 0.85:
        body["biomarkers"] = _random_biomarkers(rng)
    if rng.random() < 0.7:
        body["hla_alleles"] = rng.sample(HLA_ALLELES, rng.randint(0, 3))
    if rng.random() < 0.6:
        body["performance"] = _random_performance(rng)
    if rng.random() < 0.7:
        body["treatment_history"] = _random_history(rng)
    if rng.random() < 0.6:
        measures = rng.sample(sorted(_ORGAN_VALUES), rng.randint(0, 4))
        body["organ_function"] = {m: rng.choice(_ORGAN_VALUES[m]) for m in measures}
    return body


def _random_diagnosis(rng: random.Random) -> dict[str, Any]:
    diagnosis: dict[str, Any] = {"oncotree_code": rng.choice(ONCOTREE_CODES)}
    options: dict[str, tuple[Any, ...]] = {
        "disease_status": ("newly_diagnosed", "relapsed", "refractory"),
        "extent": ("localized", "locally_advanced", "metastatic"),
        "cns_involvement": (True, False),
    }
    for field, values in options.items():
        if rng.random() < 0.6:
            diagnosis[field] = rng.choice(values)
    return diagnosis


def _random_performance(rng: random.Random) -> list[dict[str, Any]]:
    scores = {
        "ECOG": rng.randint(0, 4),
        "Karnofsky": 10 * rng.randint(3, 10),
        "Lansky": 10 * rng.randint(3, 10),
    }
    scales = rng.sample(sorted(scores), rng.randint(0, 2))
    return [{"scale": scale, "value": scores[scale]} for scale in scales]


def _random_history(rng: random.Random) -> dict[str, Any]:
    history: dict[str, Any] = {}
    if rng.random() < 0.7:
        history["prior_lines"] = rng.randint(0, 5)
    if rng.random() < 0.7:
        history["prior_therapy_classes"] = rng.sample(_THERAPY_CLASSES, rng.randint(0, 3))
    return history


def _maybe(
    rng: random.Random, make: Callable[[random.Random], dict[str, int]], present: float = 0.8
) -> dict[str, int] | None:
    return make(rng) if rng.random() < present else None


def _random_age(rng: random.Random) -> dict[str, int]:
    style = rng.choice(("years", "months", "both", "boundary"))
    if style == "boundary":  # the edges programs use: 1, 2, 12, 16, 18, 25, 60, 75 years
        years = rng.choice((0, 1, 2, 11, 12, 15, 16, 17, 18, 25, 26, 60, 61, 75, 76))
        return {"years": years, "months": 12 * years + rng.choice((0, 11))}
    if style == "years":
        return {"years": rng.randint(0, 90)}
    months = rng.randint(0, 400)
    return {"months": months} if style == "months" else {"years": months // 12, "months": months}


def _random_biomarkers(rng: random.Random) -> dict[str, Any]:
    markers: dict[str, Any] = {}
    cgp = rng.choice((None, True, False))
    if cgp is not None:
        markers["comprehensive_genomic_profiling"] = cgp
    lists = {
        "antigens": _random_antigen,
        "somatic_variants": _random_variant,
        "fusions": _random_fusion,
        "germline_findings": _random_germline,
    }
    for field, make in lists.items():
        roll = rng.random()
        if roll < 0.35:
            continue  # not reported
        markers[field] = [] if roll < 0.5 else [make(rng) for _ in range(rng.randint(1, 3))]
    roll = rng.random()
    if roll >= 0.4:
        count = 0 if roll < 0.5 else rng.randint(1, len(_GERMLINE_GENES))
        markers["germline_genes_tested"] = rng.sample(_GERMLINE_GENES, count)
    if (msi := rng.choice((None, "MSI-H", "MSI-L", "MSS"))) is not None:
        markers["msi_status"] = msi
    if (mmr := rng.choice((None, "deficient", "proficient"))) is not None:
        markers["mmr_status"] = mmr
    if rng.random() < 0.5:
        markers["tmb_mut_per_mb"] = rng.choice((0, 5, 9.99, 10, 10.01, 25))
    return markers


def _random_antigen(rng: random.Random) -> dict[str, Any]:
    result: dict[str, Any] = {
        "antigen": rng.choice(ANTIGENS),
        "status": rng.choice(("positive", "negative")),
    }
    if rng.random() < 0.6:
        result["percent_cells"] = rng.choice((0, 10, 29.5, 30, 60, 69.9, 70, 90, 100))
    if rng.random() < 0.5:
        result["intensity"] = rng.choice(("0", "1+", "2+", "3+"))
    return result


def _random_variant(rng: random.Random) -> dict[str, Any]:
    variant: dict[str, Any] = {"gene": rng.choice(_GENES)}
    if (change := rng.choice(_PROTEIN_CHANGES)) is not None:
        variant["protein_change"] = change
    return variant


def _random_fusion(rng: random.Random) -> dict[str, Any]:
    fusion: dict[str, Any] = {"gene_3p": rng.choice(_FUSION_GENES)}
    if rng.random() < 0.7:
        fusion["gene_5p"] = rng.choice(_FUSION_GENES)
    return fusion


def _random_germline(rng: random.Random) -> dict[str, Any]:
    return {"gene": rng.choice(_GERMLINE_GENES), "classification": rng.choice(_CLASSIFICATIONS)}
