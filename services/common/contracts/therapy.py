"""The controlled vocabulary of prior-therapy classes, shared by cases and program criteria.

A free-text class would fail open: an exclusion for `ret_inhibitor` would never match a case
that says `selpercatinib`. Intake maps drugs to these classes; values are case-insensitive.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BeforeValidator

__all__ = ["THERAPY_CLASSES", "TherapyClass"]

_TherapyClassName = Literal[
    # cytotoxic and local therapy
    "chemotherapy",
    "anthracycline",
    "ifosfamide",
    "platinum",
    "taxane",
    "fluoropyrimidine",
    "gemcitabine",
    "nab_paclitaxel",
    "temozolomide",
    "radiotherapy",
    "surgery",
    # transplant
    "autologous_hsct",
    "allogeneic_hsct",
    # cell and gene therapy
    "car_t",
    "tcr_t",
    "gene_therapy",
    "oncolytic_virus",
    "cancer_vaccine",
    "ny_eso_1_tcr_t",
    "ny_eso_1_vaccine",
    "anti_ny_eso_1",
    "mage_a4_tcr_t",
    # antibodies and immunotherapy
    "anti_gd2",
    "anti_her2",
    "anti_pd1",
    "anti_pdl1",
    "anti_pdl2",
    "anti_ctla4",
    "immunotherapy_other",
    # targeted
    "ret_inhibitor",
    "trk_inhibitor",
    "alk_inhibitor",
    "kras_g12c_inhibitor",
    "egfr_inhibitor",
    "braf_inhibitor",
    "mek_inhibitor",
    "parp_inhibitor",
    "multikinase_inhibitor",
    "targeted_other",
    # other
    "hormone_therapy",
    "metformin",
    "investigational_other",
]
THERAPY_CLASSES: frozenset[str] = frozenset(get_args(_TherapyClassName))


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


TherapyClass = Annotated[_TherapyClassName, BeforeValidator(_lower)]
