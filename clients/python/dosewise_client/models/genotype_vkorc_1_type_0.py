from enum import StrEnum


class GenotypeVkorc1Type0(StrEnum):
    AA = "A/A"
    GA = "G/A"
    GG = "G/G"

    def __str__(self) -> str:
        return str(self.value)
