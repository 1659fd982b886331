"""HLA alleles and their resolution: `A*02:01` satisfies `A*02:01` and `A*02`, not the reverse."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["HlaAllele", "parse_allele"]

_ALLELE = re.compile(
    r"^(?:HLA-)?(?P<locus>[A-Z][A-Z0-9]*)\*(?P<fields>\d{2,3}(?::\d{2,3}){0,3})(?P<suffix>[NLSCAQ]?)$"
)


@dataclass(frozen=True)
class HlaAllele:
    locus: str
    fields: tuple[str, ...]
    suffix: str = ""
    """Expression suffix; `N` (null) means the allele is not expressed on the cell."""

    def __str__(self) -> str:
        return f"{self.locus}*{':'.join(self.fields)}{self.suffix}"

    @property
    def expressed(self) -> bool:
        """A null allele presents no peptide, so it cannot satisfy an HLA restriction."""
        return self.suffix != "N"

    @property
    def prefixes(self) -> list[HlaAllele]:
        """This allele at every resolution it implies: A*02:01:01 -> A*02, A*02:01, A*02:01:01."""
        return [
            HlaAllele(self.locus, self.fields[:n], self.suffix)
            for n in range(1, len(self.fields) + 1)
        ]

    @property
    def key(self) -> str:
        """A field-name-safe token for the rules engine: `A*02:01` -> `A_02_01`."""
        return "_".join((self.locus, *self.fields))


def parse_allele(text: str) -> HlaAllele:
    """Parse `HLA-A*02:01`, `A*02:01` or `A*02`; raise ValueError with the expected form."""
    match = _ALLELE.match(text.strip().upper())
    if not match:
        raise ValueError(f"'{text}' is not an HLA allele; write it like A*02:01 or A*02")
    return HlaAllele(match["locus"], tuple(match["fields"].split(":")), match["suffix"])
