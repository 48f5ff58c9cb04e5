"""The codes the FHIR mapping reads: LOINC for observations, RxNorm for the therapies' drugs, SNOMED CT for pregnancy.

Tags as in ../shared/clinical.md: [checked] seen in the source named; [secondary] seen only in third-party code or a summary;
[unverified] from general knowledge or the issue, not seen in a primary source (check against RxNav / loinc.org before
relying on a code alone). Every drug is also recognized by its name in the coding's ``display`` or the concept's ``text``
(``dosewise.medications`` for warfarin; ``BASAL_INSULIN_NAMES`` here), so one missing product code does not hide an order.
"""

from __future__ import annotations

LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
HGNC = "http://www.genenames.org"

# --- Observations (LOINC). What each code measures is its LOINC long name (loinc.org) [checked for 6301-6, 1558-6, 2339-0,
# 4548-4, 33914-3, 29463-7, 8302-2, 38483-4: the Synthea fixtures (../shared/fixtures/fhir) carry them with these names; the
# others [unverified], from the issue].
INR = ("6301-6", "34714-6", "46418-0")  # INR in Platelet poor plasma by Coagulation assay; by POC; by Coagulation assay
GLUCOSE = ("2339-0", "2345-7", "1558-6", "41653-7")  # Blood; Serum or Plasma; fasting Serum or Plasma; Capillary (meter)
GLUCOSE_FASTING = frozenset({"1558-6"})  # "Fasting glucose [Mass/volume] in Serum or Plasma"
HBA1C = ("4548-4",)  # Hemoglobin A1c/Hemoglobin.total in Blood, %
EGFR = ("33914-3", "62238-1", "98979-8")  # MDRD-based; CKD-EPI; CKD-EPI 2021 (race-free)
CREATININE = ("2160-0", "38483-4")  # Serum or Plasma; Blood
WEIGHT = ("29463-7",)  # Body weight
HEIGHT = ("8302-2",)  # Body height
# HL7 Genomics Reporting IG (STU2): a genotype is an Observation coded 84413-4 "Genotype display name", its gene in the
# component 48018-6 "Gene studied [ID]" (HGNC-coded), the diplotype in valueCodeableConcept ("CYP2C9 *1/*3").
GENOTYPE = ("84413-4",)
GENE_STUDIED = "48018-6"
GENES = {"CYP2C9": "HGNC:2623", "VKORC1": "HGNC:23663"}  # HGNC ids [unverified]; genes are also read by symbol

# --- Conditions (SNOMED CT)
# 77386006 "Pregnant" [checked: the IPS IG's value set pregnancy-status-uv-ips, v2.0.1 (hl7.org/fhir/uv/ips), expanded from
# SNOMED CT by tx.fhir.org; displayed "Patient currently pregnant (finding)" in the COVID-19 Library IG's pregnancy status
# value set].
PREGNANT = frozenset({"77386006"})

# --- Medications (RxNorm)
# Warfarin: the ingredient and its products, from the HL7 PDDI CDS IG's "Warfarin Medications Value Set"
# (http://hl7.org/fhir/uv/pddi/ValueSet/valueset-warfarin, v0.2.0, RxNorm 02-Jul-2018) [checked, its first 20 codes], and
# 855332 "Warfarin Sodium 5 MG Oral Tablet" [checked: openFDA NDC 50090-5440 lists rxcui 855332; the Synthea fixture
# Max_Dicki uses it with that display].
WARFARIN = frozenset({
    "11289", "114194", "82118", "202421", "405155",
    "855290", "855298", "855304", "855314", "855320", "855326", "855334", "855340", "855346",
    "855292", "855300", "855306", "855316", "855322", "855328",
    "855332",
})
# Basal insulins by ingredient. No primary source (RxNav, VSAC) could be read here for an ingredient code; what was found:
# - glargine 274783 [secondary: named insulin glargine alike in several third-party code tables and FHIR examples];
# - detemir 139825 [secondary: in an OHDSI study's list of insulin ingredients, beside aspart 51428, lispro 86009 and
#   glargine 274783; two other third-party tables give it to aspart or lispro, each contradicting itself elsewhere];
# - degludec 1670007 [secondary: named insulin degludec in one third-party code table; the degludec products 1670011,
#   1670021 and 1670023 below are checked];
# - 5856 and 253182, read as NPH (isophane) until now from the issue, were wrong and are removed: 5856 is "insulin"
#   unqualified in every third-party table found (it may name a prandial insulin), and 253182 "insulin" or "regular
#   insulin" (a prandial insulin) in those that name it. The NPH ingredient code could not be verified here; NPH orders are
#   read by name ("isophane", "NPH", "Humulin N", "Novolin N").
BASAL_INSULIN = {"274783": "insulin glargine", "139825": "insulin detemir", "1670007": "insulin degludec",
                 # Products [checked]: glargine 213442 "Insulin glargine 100 UNT/ML Injectable Solution" (the dQM CMS
                 # content IG's diabetes medications value set); the rxcui lists of openFDA's NDC records for Levemir
                 # (NDC 50090-1276) and Tresiba (0169-2662, 0169-2550, 50090-7094).
                 "213442": "insulin glargine",
                 **dict.fromkeys(("484322", "616238", "847239", "847241"), "insulin detemir"),
                 **dict.fromkeys(("1670011", "1670021", "1670023", "2107520"), "insulin degludec")}
# Words in a display or text that name a basal insulin (generics and US brands).
BASAL_INSULIN_NAMES = ("glargine", "detemir", "degludec", "isophane", "nph", "lantus", "toujeo", "basaglar", "semglee",
                       "levemir", "tresiba", "humulin n", "novolin n")
# Words of a prandial (bolus) insulin: a product naming one beside a basal insulin is a premix (70/30 NPH/regular).
PRANDIAL_INSULIN_NAMES = ("regular", "lispro", "aspart", "glulisine", "humalog", "novolog", "novorapid", "apidra")
