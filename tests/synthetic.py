"""Synthetic programs and cases of realistic shape, for property tests and benchmarks.

Everything here is pure: the same `random.Random(seed)` state gives the same programs and cases
(no sets are iterated, no clocks are read). Programs are built as plain data and validated through
`Program.model_validate`, cases through `Case.model_validate`, so both are exactly what the
rulebook and intake would accept.

Programs mimic the catalogue: most are gated by a diagnosis subtree (broad ones such as
SOFT_TISSUE or LYMPH, narrow codes such as SYNS or NBL, tumour-agnostic TISSUE minus the
haematologic subtrees) and/or a biomarker, then carry the usual non-gating criteria (performance
via `any`, prior lines, organ function, disease status) and exclusions (prior therapy, CNS
involvement, HLA-A*02:05). A few per cent have nothing the gate can use (their diagnosis sits
inside an `any`), and about one in ten is closed or suspended.

Cases mimic intake: diagnoses drawn across the whole OncoTree (with extra weight on the codes
programs name), ages in months for small children, and many sections missing or empty, so that
`unknown` is common.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Callable, Sequence
from typing import Any

from rarematch.common.contracts.case import Case, Diagnosis
from rarematch.common.contracts.therapy import THERAPY_CLASSES
from rarematch.eligibility.domain.criteria import Program
from rarematch.eligibility.domain.oncotree import OncoTree

__all__ = ["synthetic_case_dict", "synthetic_cases", "synthetic_program_dict", "synthetic_programs"]

Json = dict[str, Any]

# --- vocabulary ---------------------------------------------------------------------------------

_BROAD_SUBTREES = (
    "SOFT_TISSUE", "BONE", "LYMPH", "MYELOID", "BRAIN", "PNS", "LUNG", "BREAST", "BOWEL", "OVARY",
    "UTERUS", "HEAD_NECK", "SKIN", "KIDNEY", "PANCREAS", "THYROID",
)  # fmt: skip
_SARCOMA_CODES = ("SOFT_TISSUE", "BONE", "SYNS", "MRLS", "LMS", "ES", "OS", "ARMS", "ERMS", "DSRCT")
_PAEDIATRIC_CODES = (
    "NBL",
    "PNS",
    "WT",
    "RBL",
    "ES",
    "OS",
    "ERMS",
    "ARMS",
    "MBL",
    "BRAIN",
    "HGGNOS",
)
_HAEM_CODES = ("TLL", "BLL", "LYMPH", "MYELOID", "AML", "DLBCLNOS", "MM", "HL", "MCL")
_DISEASE_CODES = ("LUAD", "NSCLC", "HNMASC", "UEC", "COADREAD", "MEL", "BRCA", "HGSOC", "PAAD")
_NAMED_CASE_CODES = (
    *_SARCOMA_CODES, *_PAEDIATRIC_CODES, *_HAEM_CODES, *_DISEASE_CODES, "SACA", "IHCH", "THAP",
)  # fmt: skip
"""Codes named by programs; a share of cases is drawn from these so that programs can match."""

_VARIANTS: tuple[tuple[str, str | None], ...] = (
    ("KRAS", "p.G12C"),
    ("KRAS", "p.G12D"),
    ("BRAF", "p.V600E"),
    ("EGFR", None),
    ("EGFR", "p.L858R"),
    ("IDH1", "p.R132H"),
    ("PIK3CA", "p.H1047R"),
    ("TP53", None),
)
_FUSION_CHECKS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("NTRK1", "NTRK2", "NTRK3"), ()),
    (("RET",), ()),
    (("ALK",), ()),
    (("ROS1",), ()),
    (("ALK",), ("EML4",)),
    (("NTRK3",), ("ETV6",)),
)
_GERMLINE_PANELS: tuple[tuple[str, ...], ...] = (
    ("BRCA1", "BRCA2"),
    ("TP53",),
    ("MLH1", "MSH2", "MSH6", "PMS2", "EPCAM"),
    ("BRCA2",),
)
_ANTIGENS_BY_AREA: dict[str, tuple[str, ...]] = {
    "sarcoma": ("MAGE-A4", "NY-ESO-1", "GD2", "HER2"),
    "paediatric": ("GD2", "B7-H3", "GPC2"),
    "rare_haematologic": ("CD7", "CD19", "CD22", "CD5"),
    "other": ("HER2", "CLDN18", "MSLN"),
}
_PROGRAM_HLA = ("A*02:01", "A*02", "A*24:02", "A*02:06")
_PROGRAM_EXCLUDED_THERAPIES = (
    "car_t", "tcr_t", "gene_therapy", "anti_gd2", "anti_pd1", "kras_g12c_inhibitor",
    "trk_inhibitor", "ret_inhibitor", "alk_inhibitor", "parp_inhibitor", "allogeneic_hsct",
    "mage_a4_tcr_t", "ny_eso_1_tcr_t", "anti_her2",
)  # fmt: skip
_CASE_PRIOR_THERAPIES = (
    "chemotherapy", "anthracycline", "ifosfamide", "platinum", "temozolomide", "radiotherapy",
    "surgery", "autologous_hsct", "allogeneic_hsct", "car_t", "anti_gd2", "anti_pd1",
    "egfr_inhibitor", "kras_g12c_inhibitor", "trk_inhibitor", "parp_inhibitor",
)  # fmt: skip
# Only classes of the shared controlled vocabulary, so generated data stays valid as it changes.
_EXCLUDED_THERAPIES = tuple(c for c in _PROGRAM_EXCLUDED_THERAPIES if c in THERAPY_CLASSES)
_CASE_THERAPIES = tuple(c for c in _CASE_PRIOR_THERAPIES if c in THERAPY_CLASSES)
_ORGAN_BOUNDS: dict[str, tuple[str, float]] = {
    "creatinine_clearance_ml_min": ("min", 60),
    "alt_x_uln": ("max", 2.5),
    "ast_x_uln": ("max", 3),
    "bilirubin_x_uln": ("max", 1.5),
    "lvef_percent": ("min", 45),
    "anc_per_ul": ("min", 1000),
    "platelets_per_ul": ("min", 75_000),
    "hemoglobin_g_dl": ("min", 8),
}
_ORGAN_VALUES: dict[str, tuple[float, float, float]] = {
    "creatinine_clearance_ml_min": (20, 140, 95),
    "alt_x_uln": (0.3, 6, 0.8),
    "ast_x_uln": (0.3, 6, 0.8),
    "bilirubin_x_uln": (0.2, 4, 0.6),
    "lvef_percent": (25, 75, 60),
    "anc_per_ul": (200, 6000, 3000),
    "platelets_per_ul": (10_000, 400_000, 220_000),
    "hemoglobin_g_dl": (6, 16, 12),
}
"""Low, high and most common value (a triangular distribution): mostly adequate function."""
_CASE_VARIANTS: tuple[tuple[str, str | None], ...] = (
    *_VARIANTS,
    ("KRAS", "p.G12V"),
    ("NRAS", "p.Q61K"),
    ("TP53", "p.R175H"),
    ("TP53", "p.R273H"),
    ("STK11", "p.Q37*"),
    ("ALK", "p.F1174L"),
    ("CDKN2A", None),
    ("PTEN", "p.R130*"),
)
_CASE_FUSIONS: tuple[tuple[str | None, str], ...] = (
    ("ETV6", "NTRK3"),
    ("TPM3", "NTRK1"),
    (None, "NTRK1"),
    ("EML4", "ALK"),
    ("KIF5B", "RET"),
    ("CCDC6", "RET"),
    ("SS18", "SSX1"),
    ("SS18", "SSX2"),
    ("EWSR1", "FLI1"),
    ("PAX3", "FOXO1"),
    ("FUS", "DDIT3"),
    ("CD74", "ROS1"),
    (None, "ALK"),
)
_CASE_ANTIGENS = ("GD2", "HER2", "CD7", "MAGE-A4", "NY-ESO-1", "CD19", "CD22", "B7-H3", "MSLN")
_CASE_GERMLINE = ("BRCA1", "BRCA2", "TP53", "MLH1", "MSH2", "MSH6", "PMS2", "EPCAM", "ATM", "CHEK2")
_CASE_HLA_A = ("01", "02", "03", "11", "24", "26", "29", "30", "31", "68")
_CASE_HLA_A02 = ("01", "02", "03", "05", "06", "07")
_CASE_CODE = re.compile(Diagnosis.model_json_schema()["properties"]["oncotree_code"]["pattern"])
_COUNTRIES = ("US", "GB", "DE", "FR", "IT", "ES", "NL", "CN", "HK", "CA", "NO", "JP", "AU", "BR")


# --- programs -----------------------------------------------------------------------------------


def synthetic_programs(count: int, rng: random.Random, oncotree: OncoTree) -> list[Program]:
    """`count` valid programs with unique ids (`SYN-00000` …), drawn from `rng`."""
    vocabulary = _Vocabulary(oncotree)
    return [Program.model_validate(_program_dict(index, rng, vocabulary)) for index in range(count)]


def synthetic_program_dict(index: int, rng: random.Random, oncotree: OncoTree) -> Json:
    """One program as plain data (what a program file holds), id `SYN-{index:05d}`."""
    return _program_dict(index, rng, _Vocabulary(oncotree))


def _program_dict(index: int, rng: random.Random, vocabulary: _Vocabulary) -> Json:
    archetype = rng.choices(_ARCHETYPES, weights=[w for w, _ in _ARCHETYPE_TABLE.values()])[0]
    area, builder = archetype, _ARCHETYPE_TABLE[archetype][1]
    criteria = _Criteria()
    area, modality = builder(rng, vocabulary, criteria, area)
    _fill(rng, criteria, area, target=rng.randint(5, 12))
    status = rng.choices(("recruiting", "suspended", "closed"), weights=(90, 5, 5))[0]
    site_countries = rng.sample(_COUNTRIES, rng.randint(1, 3))
    return {
        "id": f"SYN-{index:05d}",
        "title": f"Synthetic {area.replace('_', ' ')} program {index}",
        "area": area if area != "ungated" else "other",
        "modality": modality,
        "status": status,
        "notify": [f"route-{area}", *(["route-central"] if rng.random() < 0.3 else [])],
        "sites": [{"name": f"Site {c}-{index}", "country": c} for c in site_countries],
        "source": "synthetic (tests/synthetic.py)",
        "transcribed": (dt.date(2025, 1, 1) + dt.timedelta(days=rng.randrange(700))).isoformat(),
        "inclusion": criteria.inclusion,
        "exclusion": criteria.exclusion,
    }


class _Vocabulary:
    """The bundled-tree codes the generators draw from (only codes that exist in `oncotree`)."""

    def __init__(self, oncotree: OncoTree) -> None:
        self.oncotree = oncotree

        def known(codes: Sequence[str]) -> tuple[str, ...]:
            return tuple(code for code in codes if code in oncotree)

        self.broad = known(_BROAD_SUBTREES)
        self.sarcoma = known(_SARCOMA_CODES)
        self.paediatric = known(_PAEDIATRIC_CODES)
        self.haem = known(_HAEM_CODES)
        self.hereditary = known(("BREAST", "OVARY", "BOWEL", "UTERUS", "PANCREAS"))
        self.disease = known(_DISEASE_CODES)
        self.named_case_codes = known(_NAMED_CASE_CODES)
        # Cases can only carry codes the contract accepts (a test keeps that equal to the tree).
        self.all_codes = tuple(code for code in oncotree.parents if _CASE_CODE.match(code))
        self.deep_codes = tuple(c for c in self.all_codes if len(oncotree.lineage(c)) >= 3)


class _Criteria:
    """Inclusion and exclusion criteria under construction, with unique ids."""

    def __init__(self) -> None:
        self.inclusion: list[Json] = []
        self.exclusion: list[Json] = []
        self.kinds: list[str] = []

    def add(self, kind: str, text: str, check: Json, *, exclusion: bool = False) -> None:
        ids = [c["id"] for c in (*self.inclusion, *self.exclusion)]
        base = f"ex-{kind}" if exclusion else kind
        criterion_id, n = base, 2
        while criterion_id in ids:
            criterion_id, n = f"{base}-{n}", n + 1
        (self.exclusion if exclusion else self.inclusion).append(
            {"id": criterion_id, "text": text, **check}
        )
        self.kinds.append(base)

    def count(self) -> int:
        return len(self.inclusion) + len(self.exclusion)

    def has(self, kind: str) -> bool:
        return kind in self.kinds


# Archetype builders add the gating criteria and return (area, modality).
_Builder = Callable[[random.Random, _Vocabulary, _Criteria, str], tuple[str, str]]


def _diagnosis(
    criteria: _Criteria, codes: Sequence[str], oncotree: OncoTree, exclude: Sequence[str] = ()
) -> None:
    names = ", ".join(oncotree.names.get(code, code) for code in codes)
    check: Json = {"oncotree": list(codes)}
    if exclude:
        check["exclude"] = list(exclude)
    criteria.add("diagnosis", f"Diagnosis: {names}", {"diagnosis": check})


def _pick_codes(rng: random.Random, pool: Sequence[str], at_most: int = 2) -> list[str]:
    return rng.sample(list(pool), rng.randint(1, min(at_most, len(pool))))


def _antigen(rng: random.Random, criteria: _Criteria, name: str) -> None:
    check: Json = {"name": name, "status": "positive"}
    if rng.random() < 0.6:
        check["min_percent"] = rng.choice((10, 30, 50, 70))
    if rng.random() < 0.3:
        check["min_intensity"] = rng.choice(("2+", "3+"))
    criteria.add("antigen", f"{name} expression", {"antigen": check})


def _hla(rng: random.Random, criteria: _Criteria) -> None:
    if rng.random() < 0.3:
        alleles = ["A*02:01", "A*02:06"]
        criteria.add(
            "hla",
            "HLA-A*02:01 or A*02:06",
            {"any": [{"hla": {"allele": allele}} for allele in alleles]},
        )
    else:
        allele = rng.choice(_PROGRAM_HLA)
        criteria.add("hla", f"HLA-{allele} positive", {"hla": {"allele": allele}})


def _variant(rng: random.Random, criteria: _Criteria) -> None:
    gene, change = rng.choice(_VARIANTS)
    check: Json = {"gene": gene} | ({"protein_change": change} if change else {})
    criteria.add("variant", f"{gene} {change or 'mutation'}", {"variant": check})


def _fusion(rng: random.Random, criteria: _Criteria) -> None:
    genes, partners = rng.choice(_FUSION_CHECKS)
    check: Json = {"genes": list(genes)} | ({"partners": list(partners)} if partners else {})
    criteria.add("fusion", f"{'/'.join(genes)} fusion", {"fusion": check})


def _germline(rng: random.Random, criteria: _Criteria) -> None:
    genes = rng.choice(_GERMLINE_PANELS)
    text = f"Germline pathogenic variant in {'/'.join(genes)}"
    criteria.add("germline", text, {"germline": {"genes": list(genes)}})


def _msi(criteria: _Criteria) -> None:
    criteria.add("msi", "MSI-H or dMMR", {"mismatch_repair": {"msi_high_or_dmmr": True}})


def _age(rng: random.Random, criteria: _Criteria, area: str) -> None:
    if area == "paediatric":
        low: Json = rng.choice(({"min_months": 6}, {"min_years": 1}, {"min_months": 12}, {}))
        high: Json = rng.choice(({"max_years": 21}, {"max_years": 25}, {"max_years": 17}))
        bounds = low | high
    elif area in ("rare_haematologic", "sarcoma") and rng.random() < 0.3:
        bounds = {"min_years": rng.choice((2, 12, 16)), "max_years": rng.choice((60, 70, 75))}
    else:
        adults: tuple[Json, ...] = (
            {"min_years": 18},
            {"min_years": 12},
            {"min_years": 18, "max_years": 80},
        )
        bounds = rng.choice(adults)
    words = [f"{key.split('_')[0]} {value} {key.split('_')[1]}" for key, value in bounds.items()]
    criteria.add("age", f"Age: {', '.join(words)}", {"age": bounds})


def _sarcoma(rng: random.Random, v: _Vocabulary, criteria: _Criteria, area: str) -> tuple[str, str]:
    _diagnosis(criteria, _pick_codes(rng, v.sarcoma), v.oncotree)
    cell_therapy = rng.random() < 0.6
    if cell_therapy:
        _hla(rng, criteria)
        _antigen(rng, criteria, rng.choice(_ANTIGENS_BY_AREA["sarcoma"]))
    elif rng.random() < 0.4:
        _fusion(rng, criteria)
    return "sarcoma", "TCR-T" if cell_therapy else "targeted"


def _paediatric(
    rng: random.Random, v: _Vocabulary, criteria: _Criteria, area: str
) -> tuple[str, str]:
    _age(rng, criteria, "paediatric")
    _diagnosis(criteria, _pick_codes(rng, v.paediatric), v.oncotree)
    if rng.random() < 0.7:
        _antigen(rng, criteria, rng.choice(_ANTIGENS_BY_AREA["paediatric"]))
    return "paediatric", "CAR-T"


def _haematologic(
    rng: random.Random, v: _Vocabulary, criteria: _Criteria, area: str
) -> tuple[str, str]:
    _diagnosis(criteria, _pick_codes(rng, v.haem), v.oncotree)
    if rng.random() < 0.8:
        _antigen(rng, criteria, rng.choice(_ANTIGENS_BY_AREA["rare_haematologic"]))
    return "rare_haematologic", "CAR-T"


def _basket(rng: random.Random, v: _Vocabulary, criteria: _Criteria, area: str) -> tuple[str, str]:
    if rng.random() < 0.85:
        criteria.add(
            "solid-tumour",
            "Locally advanced or metastatic solid tumour",
            {"diagnosis": {"oncotree": ["TISSUE"], "exclude": ["LYMPH", "MYELOID"]}},
        )
    marker = rng.choices(("variant", "fusion", "msi"), weights=(45, 40, 15))[0]
    {"variant": _variant, "fusion": _fusion}.get(marker, lambda r, c: _msi(c))(rng, criteria)
    return "molecular_basket", rng.choice(("targeted", "checkpoint inhibitor"))


def _hereditary(
    rng: random.Random, v: _Vocabulary, criteria: _Criteria, area: str
) -> tuple[str, str]:
    _germline(rng, criteria)
    if rng.random() < 0.5:
        _diagnosis(criteria, _pick_codes(rng, v.hereditary), v.oncotree)
    return "hereditary_syndrome", rng.choice(("vaccine", "PARP inhibitor"))


def _disease(rng: random.Random, v: _Vocabulary, criteria: _Criteria, area: str) -> tuple[str, str]:
    roll = rng.random()
    if roll < 0.4:
        codes = _pick_codes(rng, v.disease)
    elif roll < 0.7:
        codes = [rng.choice(v.broad)]
    else:
        codes = _pick_codes(rng, v.deep_codes, at_most=3)
    _diagnosis(criteria, codes, v.oncotree)
    roll = rng.random()
    if roll < 0.3:
        _variant(rng, criteria)
    elif roll < 0.5:
        _antigen(rng, criteria, rng.choice(_ANTIGENS_BY_AREA["other"]))
    elif roll < 0.6:
        _msi(criteria)
    return "other", rng.choice(("gene therapy", "ADC", "bispecific", "oncolytic virus"))


def _ungated(rng: random.Random, v: _Vocabulary, criteria: _Criteria, area: str) -> tuple[str, str]:
    """Nothing top-level the gate can use: the diagnosis is one branch of an `any`."""
    code = rng.choice(v.deep_codes)
    genes, _ = rng.choice(_FUSION_CHECKS[:4])
    criteria.add(
        "dx-or-fusion",
        f"{v.oncotree.names[code]}, or a {'/'.join(genes)} fusion in any tumour",
        {"any": [{"diagnosis": {"oncotree": [code]}}, {"fusion": {"genes": list(genes)}}]},
    )
    return "ungated", "targeted"


_ARCHETYPE_TABLE: dict[str, tuple[int, _Builder]] = {
    "sarcoma": (18, _sarcoma),
    "paediatric": (15, _paediatric),
    "rare_haematologic": (15, _haematologic),
    "molecular_basket": (22, _basket),
    "hereditary_syndrome": (8, _hereditary),
    "other": (17, _disease),
    "ungated": (5, _ungated),
}
_ARCHETYPES = tuple(_ARCHETYPE_TABLE)


def _performance(rng: random.Random, criteria: _Criteria, area: str) -> None:
    if area == "paediatric":
        lansky, karnofsky = rng.choice((50, 60, 70)), rng.choice((50, 60, 70))
        criteria.add(
            "performance",
            f"Lansky >= {lansky} (under 16) or Karnofsky >= {karnofsky}",
            {
                "any": [
                    {"performance": {"scale": "Lansky", "min": lansky}},
                    {"performance": {"scale": "Karnofsky", "min": karnofsky}},
                ]
            },
        )
    elif rng.random() < 0.7:
        ecog, karnofsky = rng.choice((1, 2)), rng.choice((60, 70))
        criteria.add(
            "performance",
            f"ECOG 0-{ecog} or Karnofsky >= {karnofsky}",
            {
                "any": [
                    {"performance": {"scale": "ECOG", "max": ecog}},
                    {"performance": {"scale": "Karnofsky", "min": karnofsky}},
                ]
            },
        )
    else:
        criteria.add("performance", "ECOG 0-1", {"performance": {"scale": "ECOG", "max": 1}})


def _extras(rng: random.Random, criteria: _Criteria, area: str) -> list[Callable[[], None]]:
    """Non-gating criteria, in a random order; each adds one criterion when called."""

    measures = rng.sample(sorted(_ORGAN_BOUNDS), 3)

    def organ() -> None:
        measure = measures.pop()
        side, bound = _ORGAN_BOUNDS[measure]
        criteria.add(
            f"organ-{measure.split('_')[0]}",
            f"{measure.replace('_', ' ')} {'>=' if side == 'min' else '<='} {bound:g}",
            {"organ_function": {"measure": measure, side: bound}},
        )

    def prior_lines() -> None:
        bounds: Json = rng.choice(({"min": 1}, {"min": 2}, {"max": 3}, {"min": 1, "max": 4}))
        criteria.add("prior-lines", f"Prior lines {bounds}", {"prior_lines": bounds})

    def disease_status() -> None:
        statuses = rng.choice((["relapsed", "refractory"], ["newly_diagnosed"]))
        criteria.add("disease-status", "/".join(statuses), {"disease_status": {"is": statuses}})

    def extent() -> None:
        criteria.add(
            "extent",
            "Locally advanced or metastatic",
            {"extent": {"is": ["locally_advanced", "metastatic"]}},
        )

    def prior_therapy() -> None:
        classes = rng.sample(_EXCLUDED_THERAPIES, rng.randint(1, 2))
        criteria.add(
            "prior-therapy",
            f"Prior {' or '.join(classes)}",
            {"prior_therapy": {"classes": classes}},
            exclusion=True,
        )

    def cns() -> None:
        criteria.add(
            "cns", "Active CNS involvement", {"cns_involvement": {"present": True}}, exclusion=True
        )

    def tmb() -> None:
        criteria.add("tmb", "TMB >= 10 mut/Mb", {"tmb": {"min": 10}})

    def country() -> None:
        regions = rng.sample(["EU", "UK", "North_America", "Greater_China"], rng.randint(1, 2))
        text = f"Treated in {', '.join(regions)}"
        criteria.add("country", text, {"country": {"regions": regions}})

    def hla_exclusion() -> None:
        criteria.add("hla-a0205", "HLA-A*02:05", {"hla": {"allele": "A*02:05"}}, exclusion=True)

    def low_lvef() -> None:
        low: Json = {"organ_function": {"measure": "lvef_percent", "max": 39}}
        criteria.add("lvef-low", "LVEF below 40%", low, exclusion=True)

    extras: list[Callable[[], None]] = [organ, organ, organ, prior_lines, disease_status]
    extras += [prior_therapy, cns, extent, low_lvef]
    if area in ("molecular_basket", "other") and rng.random() < 0.3:
        extras.append(tmb)
    if rng.random() < 0.3:
        extras.append(country)
    if criteria.has("hla"):
        extras.append(hla_exclusion)
    rng.shuffle(extras)
    return extras


def _fill(rng: random.Random, criteria: _Criteria, area: str, target: int) -> None:
    if area != "ungated" and not criteria.has("age") and rng.random() < 0.85:
        _age(rng, criteria, area)
    if rng.random() < 0.8:
        _performance(rng, criteria, area)
    for add in _extras(rng, criteria, area):
        if criteria.count() >= target:
            break
        add()


# --- cases --------------------------------------------------------------------------------------


def synthetic_cases(count: int, rng: random.Random, oncotree: OncoTree) -> list[Case]:
    """`count` valid cases (`case-syn-000000` …) drawn from `rng`; missing data is common."""
    vocabulary = _Vocabulary(oncotree)
    return [
        Case.model_validate(_case_dict(f"case-syn-{index:06d}", rng, vocabulary))
        for index in range(count)
    ]


def synthetic_case_dict(case_id: str, rng: random.Random, oncotree: OncoTree) -> Json:
    """One case body as intake would publish it."""
    return _case_dict(case_id, rng, _Vocabulary(oncotree))


def _case_dict(case_id: str, rng: random.Random, v: _Vocabulary) -> Json:
    """Most cases come from routine intake, with sections missing; one in five is thorough:
    every section reported after comprehensive profiling, as from a specialist centre."""
    thorough = rng.random() < 0.2

    def reported(share: float) -> bool:
        return thorough or rng.random() < share

    body: Json = {"case_id": case_id}
    code = _case_code(rng, v) if reported(0.88) else None
    child = code is not None and code in v.paediatric and rng.random() < 0.8
    if reported(0.9):
        body["age"] = _case_age(rng, child or rng.random() < 0.15)
    if reported(0.9):
        body["sex"] = rng.choice(("female", "male", "female", "male", "other"))
    if reported(0.75):
        body["country"] = rng.choice(_COUNTRIES)
    if code is not None:
        body["diagnosis"] = _case_diagnosis(rng, code, thorough)
    if reported(0.85):
        body["biomarkers"] = _case_biomarkers(rng, thorough)
    if reported(0.45):
        body["hla_alleles"] = _case_hla(rng)
    if reported(0.65):
        body["performance"] = _case_performance(rng, child)
    if reported(0.7):
        body["treatment_history"] = _case_history(rng, thorough)
    if reported(0.5):
        count = len(_ORGAN_VALUES) if thorough else rng.randint(0, len(_ORGAN_VALUES))
        measures = sorted(rng.sample(sorted(_ORGAN_VALUES), count))
        body["organ_function"] = {m: round(rng.triangular(*_ORGAN_VALUES[m]), 1) for m in measures}
    return body


def _case_code(rng: random.Random, v: _Vocabulary) -> str:
    roll = rng.random()
    if roll < 0.45:
        return rng.choice(v.named_case_codes)
    if roll < 0.55:
        return rng.choice(v.broad)
    return rng.choice(v.all_codes)


def _case_age(rng: random.Random, child: bool) -> Json:
    if not child:
        return {"years": rng.randint(18, 88)}
    months = rng.randint(1, 215)
    if months < 36 or rng.random() < 0.3:
        return {"months": months} | ({"years": months // 12} if rng.random() < 0.3 else {})
    return {"years": months // 12}


def _case_diagnosis(rng: random.Random, code: str, thorough: bool) -> Json:
    diagnosis: Json = {"oncotree_code": code}
    if thorough or rng.random() < 0.7:
        diagnosis["disease_status"] = rng.choice(("newly_diagnosed", "relapsed", "refractory"))
    if thorough or rng.random() < 0.6:
        diagnosis["extent"] = rng.choice(("localized", "locally_advanced", "metastatic"))
    if thorough or rng.random() < 0.4:
        diagnosis["cns_involvement"] = rng.random() < 0.15
    return diagnosis


def _maybe_list(rng: random.Random, missing: float, empty: float) -> bool | None:
    """None: not reported; False: reported empty; True: fill it."""
    roll = rng.random()
    if roll < missing:
        return None
    return roll >= missing + empty


def _case_biomarkers(rng: random.Random, thorough: bool) -> Json:
    markers: Json = {}
    cgp = True if thorough else rng.choices((True, False, None), weights=(35, 25, 40))[0]
    if cgp is not None:
        markers["comprehensive_genomic_profiling"] = cgp
    if (fill := _maybe_list(rng, 0 if thorough else 0.4, 0.15)) is not None:
        picks = rng.sample(_CASE_VARIANTS, rng.randint(1, 3)) if fill else []
        markers["somatic_variants"] = [
            {"gene": gene} | ({"protein_change": change} if change else {})
            for gene, change in picks
        ]
    if (fill := _maybe_list(rng, 0 if thorough else 0.5, 0.25)) is not None:
        fusions = rng.sample(_CASE_FUSIONS, 1) if fill else []
        markers["fusions"] = [
            {"gene_3p": three} | ({"gene_5p": five} if five else {}) for five, three in fusions
        ]
    if (fill := _maybe_list(rng, 0 if thorough else 0.55, 0.05)) is not None:
        names = rng.sample(_CASE_ANTIGENS, rng.randint(1, 3)) if fill else []
        markers["antigens"] = [_case_antigen(rng, name) for name in names]
    if thorough or rng.random() < 0.25:
        tested = rng.sample(_CASE_GERMLINE, rng.randint(2, len(_CASE_GERMLINE)))
        if thorough or rng.random() < 0.7:
            markers["germline_genes_tested"] = sorted(tested)
        findings = rng.sample(tested, rng.randint(0, 1))
        markers["germline_findings"] = [
            {"gene": gene, "classification": rng.choice(("pathogenic", "likely_pathogenic", "vus"))}
            for gene in findings
        ]
    if thorough or rng.random() < 0.3:
        markers["msi_status"] = rng.choices(("MSI-H", "MSI-L", "MSS"), weights=(20, 10, 70))[0]
    if thorough or rng.random() < 0.25:
        markers["mmr_status"] = rng.choices(("deficient", "proficient"), weights=(20, 80))[0]
    if thorough or rng.random() < 0.3:
        markers["tmb_mut_per_mb"] = round(rng.uniform(0, 40), 1)
    return markers


def _case_antigen(rng: random.Random, name: str) -> Json:
    result: Json = {"antigen": name, "status": rng.choice(("positive", "positive", "negative"))}
    if rng.random() < 0.5:
        result["percent_cells"] = float(rng.randrange(0, 101, 5))
    if rng.random() < 0.35:
        result["intensity"] = rng.choice(("0", "1+", "2+", "3+"))
    return result


def _case_hla(rng: random.Random) -> list[str]:
    if rng.random() < 0.05:
        return []
    alleles = []
    for _ in range(rng.randint(1, 2)):
        group = rng.choice(("02", "02", *_CASE_HLA_A))
        roll = rng.random()
        if roll < 0.3:
            alleles.append(f"A*{group}")
        elif roll < 0.9:
            protein = rng.choice(_CASE_HLA_A02) if group == "02" else "01"
            alleles.append(f"{'HLA-' if rng.random() < 0.2 else ''}A*{group}:{protein}")
        else:
            alleles.append(f"A*{group}:01:01")
    if rng.random() < 0.2:
        alleles.append(rng.choice(("B*07:02", "C*07:01", "DRB1*15:01")))
    return alleles


def _case_performance(rng: random.Random, child: bool) -> list[Json]:
    if rng.random() < 0.07:
        return []
    scales = ["Lansky", "Karnofsky"] if child else ["ECOG", "Karnofsky"]
    chosen = rng.sample(scales, rng.randint(1, 2))
    return [
        {"scale": scale, "value": rng.randint(0, 4) if scale == "ECOG" else 10 * rng.randint(3, 10)}
        for scale in chosen
    ]


def _case_history(rng: random.Random, thorough: bool) -> Json:
    history: Json = {}
    if thorough or rng.random() < 0.7:
        history["prior_lines"] = rng.choices(range(6), weights=(20, 25, 20, 15, 10, 10))[0]
    if (fill := _maybe_list(rng, 0 if thorough else 0.4, 0.15)) is not None:
        history["prior_therapy_classes"] = (
            rng.sample(_CASE_THERAPIES, rng.randint(1, 3)) if fill else []
        )
    return history
