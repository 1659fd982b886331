"""HLA nomenclature as laboratories write it: the one parser of case contracts and rule files.

Accepted forms (WHO nomenclature, ASCII only, `HLA-` prefix optional, case as written here):

| form | example | proves |
|---|---|---|
| molecular, 1-4 fields | `A*02`, `A*02:01`, `A*02:01:01:02` | every field written |
| expression suffix | `A*02:01N`, `A*24:02:01:02L`, `S` `C` `A` `Q` | the fields; see `expression` |
| old style (before 2010) | `A*0201`, `A*020101`, `A*02010101` | read as `A*02:01` … |
| P group | `A*02:01P` | the first field (`A*02`), expressed |
| G group | `A*02:01:01G` | the first field (`A*02`), expression unknown |
| serological antigen | `A2`, `Cw7`, `DR15`, `A9` | the first field when all its alleles share one |

Why groups and antigens prove so little (a typing must never match more specifically than it
proves): a P group holds every allele whose antigen-binding domain has the named allele's
protein sequence, other second fields included (`A*01:01P` holds `A*01:32`, `A*01:37` …), and
no null allele. A G group does the same by nucleotide sequence and holds null alleles too
(`A*01:01:01G` holds `A*01:01:01:02N`, `A*01:04N`), so it cannot prove the allele is expressed.
A serological antigen proves an expressed molecule; it names a first field only when every
allele the IPD-IMGT/HLA dictionary assigns to it (mhcgnomes' table) has that first field: `A2`
is `A*02`, `B70` is `B*15`, but the broad `A9` (`A*23` or `A*24`) proves only that HLA-A is
typed. Public epitopes (`Bw4`, `Bw6`) span loci and are not accepted.

Parsing is mhcgnomes' (imported on first use: it takes 3-7 s to load its tables) behind one
ASCII pattern, `HLA_ALLELE_PATTERN`, which the case contract's JSON Schema uses too.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from mhcgnomes import Serotype

__all__ = [
    "HLA_ALLELE_PATTERN",
    "HLA_FORMS",
    "HLA_LOCI",
    "SEROTYPES",
    "Expression",
    "HlaAllele",
    "HlaParseError",
    "parse_allele",
    "serotype_alleles",
]

HLA_LOCI = (
    "A",
    "B",
    "C",
    "E",
    "F",
    "G",
    "DRA",
    "DRB1",
    "DRB3",
    "DRB4",
    "DRB5",
    "DQA1",
    "DQB1",
    "DPA1",
    "DPB1",
)
"""Classical and non-classical HLA genes an allele may name."""

# fmt: off
SEROTYPES = (
    "A1", "A2", "A203", "A210", "A3", "A9", "A10", "A11", "A19", "A23", "A24", "A25", "A26",
    "A28", "A29", "A30", "A31", "A32", "A33", "A34", "A36", "A43", "A66", "A68", "A69", "A74",
    "A80", "Aw68", "Aw69",
    "B5", "B7", "B703", "B8", "B12", "B13", "B14", "B15", "B16", "B17", "B18", "B21", "B22",
    "B27", "B35", "B37", "B38", "B39", "B40", "B41", "B42", "B44", "B45", "B46", "B47", "B48",
    "B49", "B50", "B51", "B52", "B53", "B54", "B55", "B56", "B57", "B58", "B59", "B60", "B61",
    "B62", "B63", "B64", "B65", "B67", "B70", "B71", "B72", "B73", "B75", "B76", "B77", "B78",
    "B81", "B82",
    "Cw1", "Cw2", "Cw3", "Cw4", "Cw5", "Cw6", "Cw7", "Cw8", "Cw9", "Cw10", "Cw12", "Cw14", "Cw15",
    "Cw16", "Cw17", "Cw18",
    "DR1", "DR103", "DR2", "DR3", "DR4", "DR5", "DR6", "DR7", "DR8", "DR9", "DR10", "DR11",
    "DR12", "DR13", "DR14", "DR1403", "DR1404", "DR15", "DR16", "DR17", "DR18", "DR51", "DR52",
    "DR53",
    "DQ1", "DQ2", "DQ3", "DQ4", "DQ5", "DQ6", "DQ7", "DQ8", "DQ9",
    "DPw1", "DPw2", "DPw3", "DPw4", "DPw5", "DPw6",
)
# fmt: on
"""WHO serological antigens of one locus that mhcgnomes knows (a test keeps the two in step)."""

_FIELD = "[0-9]{2,3}"
_LOCUS = "(" + "|".join(sorted(HLA_LOCI, key=len, reverse=True)) + ")"
_MOLECULAR = (
    rf"{_LOCUS}\*({_FIELD}(:{_FIELD}){{0,3}}[NLSCAQ]?"  # A*02 … A*02:01:01:02L
    rf"|{_FIELD}:{_FIELD}P"  # A*02:01P
    rf"|{_FIELD}:{_FIELD}:{_FIELD}G"  # A*02:01:01G
    r"|[0-9]{4}([0-9]{2}){0,2}[NLSCAQ]?)"  # A*0201, A*020101, A*02010101
)
_SEROLOGICAL = "(" + "|".join(sorted(SEROTYPES, key=len, reverse=True)) + ")"
HLA_ALLELE_PATTERN = rf"^(HLA-)?({_MOLECULAR}|{_SEROLOGICAL})$"
"""Every form this module reads, in ASCII (JSON Schema and Rust regex dialects alike)."""
_ALLELE = re.compile(HLA_ALLELE_PATTERN, re.ASCII)

HLA_FORMS = "A*02:01, A*02, A*02:01P, A*02:01:01G, A*0201 or a serological antigen such as A2"

Expression = Literal["expressed", "null", "uncertain"]
_UNCERTAIN_SUFFIXES = frozenset("SCAQ")
"""Secreted, cytoplasmic, aberrant, questionable: not proven on the cell surface."""


class HlaParseError(ValueError):
    """Not an HLA allele in a form this service reads. The message never repeats the text
    (a case's alleles are patient data); callers that may show it add it themselves."""

    def __init__(self) -> None:
        super().__init__(f"not an HLA allele; write it like {HLA_FORMS}")


@dataclass(frozen=True)
class HlaAllele:
    """One typing result: `locus*fields` with an expression `suffix`, a P or G `group`, or a
    `serotype` (whose `fields` are the first field it proves, or none)."""

    locus: str
    fields: tuple[str, ...]
    suffix: str = ""
    """Expression suffix: `N` null (not expressed), `L` low, `S` `C` `A` `Q` uncertain."""
    group: Literal["", "P", "G"] = ""
    serotype: str = ""

    def __str__(self) -> str:
        if self.serotype:
            return self.serotype
        return f"{self.locus}*{':'.join(self.fields)}{self.suffix}{self.group}"

    @property
    def resolution(self) -> tuple[str, ...]:
        """The fields this typing proves: a P or G group proves only its first field."""
        return self.fields[:1] if self.group else self.fields

    @property
    def expression(self) -> Expression:
        """Whether the typing proves a molecule on the cell surface (only then can it satisfy
        an HLA restriction): nulls never; G groups (which hold nulls) and `S` `C` `A` `Q`
        alleles are uncertain; everything else, serological antigens first, is expressed."""
        if self.suffix == "N":
            return "null"
        if self.group == "G" or self.suffix in _UNCERTAIN_SUFFIXES:
            return "uncertain"
        return "expressed"

    @property
    def prefixes(self) -> list[HlaAllele]:
        """What the typing proves at every resolution: A*02:01:01 -> A*02, A*02:01, A*02:01:01."""
        proven = self.resolution
        return [HlaAllele(self.locus, proven[:n]) for n in range(1, len(proven) + 1)]

    @property
    def resolution_key(self) -> str:
        """`key` of what the typing proves: `A_02` for `A*02:01P`, `A` for `A9`."""
        return "_".join((self.locus, *self.resolution))

    @property
    def key(self) -> str:
        """A field-name-safe token for the rules engine, distinct per typing: `A*02:01` ->
        `A_02_01`, `A*02:01P` -> `A_02_01P`, `A2` -> `s_A2`."""
        if self.serotype:
            return f"s_{self.serotype}"
        return "_".join((self.locus, *self.fields)) + self.group


def parse_allele(text: str) -> HlaAllele:
    """Parse one allele, group or antigen in any form of the module docstring; raise
    `HlaParseError` (a ValueError) otherwise. Surrounding blanks are ignored."""
    stripped = text.strip()
    if not _ALLELE.fullmatch(stripped):
        raise HlaParseError()
    return _parse(stripped.removeprefix("HLA-"))


@functools.lru_cache(maxsize=65536)
def _parse(text: str) -> HlaAllele:
    import mhcgnomes  # 3-7 s to load its tables: only when an allele is read

    try:
        parsed = mhcgnomes.parse(f"HLA-{text}")  # the prefix spares 1-3 ms of species search
    except mhcgnomes.ParseError:
        raise HlaParseError() from None
    if isinstance(parsed, mhcgnomes.Serotype):
        return _serotype(parsed, text)
    if not isinstance(parsed, mhcgnomes.Allele) or parsed.gene.name not in HLA_LOCI:
        raise HlaParseError()
    annotations = "".join(parsed.annotations)
    group: Literal["", "P", "G"] = "P" if annotations == "P" else "G" if annotations == "G" else ""
    annotations = "" if group else annotations
    if parsed.mutations or len(annotations) > 1 or not text.startswith(parsed.gene.name + "*"):
        raise HlaParseError()
    return HlaAllele(parsed.gene.name, tuple(parsed.allele_fields), annotations, group)


def _serotype(parsed: Serotype, text: str) -> HlaAllele:
    loci = {allele.gene.name for allele in parsed.alleles}
    first_fields = {allele.allele_fields[0] for allele in parsed.alleles}
    if text not in SEROTYPES or len(loci) != 1:
        raise HlaParseError()
    fields = tuple(first_fields) if len(first_fields) == 1 else ()
    return HlaAllele(loci.pop(), fields, serotype=text)


@functools.cache
def serotype_alleles(serotype: str) -> tuple[HlaAllele, ...]:
    """The alleles (at two fields or more) the IPD-IMGT/HLA dictionary assigns to `serotype`."""
    import mhcgnomes

    parsed = mhcgnomes.parse(f"HLA-{serotype}")
    assert isinstance(parsed, mhcgnomes.Serotype), serotype
    return tuple(
        sorted(
            {
                HlaAllele(a.gene.name, tuple(a.allele_fields[:2]))
                for a in parsed.alleles
                if len(a.allele_fields) >= 2
            },
            key=str,
        )
    )
