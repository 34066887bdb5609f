"""What the synthetic estate looks like: scales, district rosters, fixed reference data and
the anchor date.

Everything that a later test or benchmark may rely on lives here as plain constants, so the
generator stays a pure function of (scale, seed).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

# The estate is generated "as of" this fixed day, never today's date: the same seed must give
# the same bytes next month too. Activity ("updated in the last 30 days") is relative to it,
# so district selection should measure recency against max(updated_at) or a configured date.
AS_OF = date(2026, 11, 13)
CURRENT_SCHOOL_YEAR = 2027          # the 2026-27 school year
CURRENT_TERMS = (5, 6)              # FA26, SP27 (ids in TERMS)
FALL_TERM = 5

PROD_DATABASES = {"ids": "ids", "hcp1": "hcp1", "hcp2": "hcp2", "adb": "adb"}
CERT_DATABASES = {store: f"cert_{store}" for store in PROD_DATABASES}
PG_STORES = ("ids", "hcp1", "hcp2", "adb")

ROOT_DISTRICT = 42
CERT_DISTRICTS = (9001, 9002)


@dataclass(frozen=True)
class Scale:
    name: str
    # (district id, number of students); district 42 always present.
    districts: tuple[tuple[int, int], ...]
    # School days of daily ADB facts (None = every school day of the current year so far).
    fact_days: int | None
    # Mean graph Message nodes per student (the graph's bulk, as in the reference SP store).
    messages_per_student: float


# District 42 at `reference` has 6,000 students, which yields about IDS 250k rows, HCP1 180k,
# HCP2 120k, ADB 185k and SP ~100k nodes / ~260k relationships. Other districts are deliberately
# uneven (50 .. 9,000 students) so size-based selection has something to rank.
_REFERENCE_OTHERS = ((3, 9000), (7, 2400), (11, 350), (15, 1500), (19, 800), (23, 120), (27, 2000),
                     (31, 600), (48, 900), (55, 3000), (61, 180), (64, 70), (70, 1100), (77, 400),
                     (83, 50), (88, 260), (91, 1300), (96, 700), (101, 150))

SCALES: dict[str, Scale] = {
    # A few thousand rows; every hard case still present (the generator forces them).
    "tiny": Scale("tiny", ((3, 14), (7, 10), (19, 9), (42, 30), (55, 8)), fact_days=3,
                  messages_per_student=1.0),
    "small": Scale("small", ((3, 160), (7, 100), (11, 30), (19, 60), (23, 20), (42, 300), (55, 60),
                             (61, 15)), fact_days=None, messages_per_student=6.0),
    "reference": Scale("reference", tuple(sorted(_REFERENCE_OTHERS + ((42, 6000),))), fact_days=None,
                       messages_per_student=6.0),
    "large": Scale("large", tuple(sorted(_REFERENCE_OTHERS + ((42, 60000),))), fact_days=None,
                   messages_per_student=6.0),
}


def scale(name: str) -> Scale:
    try:
        return SCALES[name]
    except KeyError:
        raise ValueError(f"unknown scale {name!r}; choose one of {', '.join(SCALES)}") from None


# ---------------------------------------------------------------- reference data (no district)

# (code, name, FIPS) -- FIPS codes keep their leading zeros.
STATES = (
    ("AK", "Alaska", "02"), ("AL", "Alabama", "01"), ("AR", "Arkansas", "05"), ("AZ", "Arizona", "04"),
    ("CA", "California", "06"), ("CO", "Colorado", "08"), ("CT", "Connecticut", "09"),
    ("DC", "District of Columbia", "11"), ("DE", "Delaware", "10"), ("FL", "Florida", "12"),
    ("GA", "Georgia", "13"), ("HI", "Hawaii", "15"), ("IA", "Iowa", "19"), ("ID", "Idaho", "16"),
    ("IL", "Illinois", "17"), ("IN", "Indiana", "18"), ("KS", "Kansas", "20"), ("KY", "Kentucky", "21"),
    ("LA", "Louisiana", "22"), ("MA", "Massachusetts", "25"), ("MD", "Maryland", "24"), ("ME", "Maine", "23"),
    ("MI", "Michigan", "26"), ("MN", "Minnesota", "27"), ("MO", "Missouri", "29"), ("MS", "Mississippi", "28"),
    ("MT", "Montana", "30"), ("NC", "North Carolina", "37"), ("ND", "North Dakota", "38"),
    ("NE", "Nebraska", "31"), ("NH", "New Hampshire", "33"), ("NJ", "New Jersey", "34"),
    ("NM", "New Mexico", "35"), ("NV", "Nevada", "32"), ("NY", "New York", "36"), ("OH", "Ohio", "39"),
    ("OK", "Oklahoma", "40"), ("OR", "Oregon", "41"), ("PA", "Pennsylvania", "42"),
    ("RI", "Rhode Island", "44"), ("SC", "South Carolina", "45"), ("SD", "South Dakota", "46"),
    ("TN", "Tennessee", "47"), ("TX", "Texas", "48"), ("UT", "Utah", "49"), ("VA", "Virginia", "51"),
    ("VT", "Vermont", "50"), ("WA", "Washington", "53"), ("WI", "Wisconsin", "55"),
    ("WV", "West Virginia", "54"), ("WY", "Wyoming", "56"),
)

# District -> state. New England states have ZIP codes starting with 0 (leading-zero case).
DISTRICT_STATE = {3: "TX", 7: "NJ", 11: "CA", 15: "OH", 19: "CT", 23: "NY", 27: "FL", 31: "WA",
                  42: "MA", 48: "IL", 55: "NH", 61: "PA", 64: "ME", 70: "GA", 77: "RI", 83: "VT",
                  88: "NC", 91: "MI", 96: "AZ", 101: "CO", 9001: "MA", 9002: "NJ"}
# First three ZIP digits per state (an int; "021" is 21).
STATE_ZIP3 = {"TX": 750, "NJ": 70, "CA": 900, "OH": 430, "CT": 60, "NY": 100, "FL": 330, "WA": 980,
              "MA": 21, "IL": 606, "NH": 30, "PA": 150, "ME": 40, "GA": 303, "RI": 28, "VT": 50,
              "NC": 275, "MI": 480, "AZ": 850, "CO": 800}

GRADE_LEVELS = tuple((g, "K" if g == 0 else str(g), "Kindergarten" if g == 0 else f"Grade {g}")
                     for g in range(13))

SUBJECTS = ((1, "MATH", "Mathematics"), (2, "ELA", "English Language Arts"), (3, "SCI", "Science"),
            (4, "SOC", "Social Studies"), (5, "ART", "Visual Arts"), (6, "MUS", "Music"),
            (7, "PE", "Physical Education"), (8, "CS", "Computer Science"), (9, "WL", "World Languages"),
            (10, "HLTH", "Health"))
ASSESSED_SUBJECTS = (1, 2, 3, 4)

# (id, code, school_year, name, start, end)
TERMS = (
    (1, "FA24", 2025, "Fall 2024", date(2024, 8, 26), date(2024, 12, 20)),
    (2, "SP25", 2025, "Spring 2025", date(2025, 1, 6), date(2025, 6, 13)),
    (3, "FA25", 2026, "Fall 2025", date(2025, 8, 25), date(2025, 12, 19)),
    (4, "SP26", 2026, "Spring 2026", date(2026, 1, 5), date(2026, 6, 12)),
    (5, "FA26", 2027, "Fall 2026", date(2026, 8, 24), date(2026, 12, 18)),
    (6, "SP27", 2027, "Spring 2027", date(2027, 1, 4), date(2027, 6, 11)),
)
TERM_BY_ID = {t[0]: t for t in TERMS}

# School types and the grades they serve.
SCHOOL_TYPES = ("elementary", "middle", "high")
SCHOOL_TYPE_GRADES = ((0, 5), (6, 8), (9, 12))

VACCINES = (("DTAP", "DTaP", 5), ("HEPB", "Hepatitis B", 3), ("HIB", "Hib", 4), ("IPV", "Polio (IPV)", 4),
            ("MMR", "Measles, Mumps, Rubella", 2), ("VAR", "Varicella", 2), ("HEPA", "Hepatitis A", 2),
            ("TDAP", "Tdap", 1), ("MENACWY", "Meningococcal ACWY", 2), ("HPV", "HPV", 2),
            ("FLU", "Influenza", 1), ("COVID19", "COVID-19", 1))

DIAGNOSIS_CODES = (("J06.9", "Acute upper respiratory infection"), ("R51.9", "Headache"),
                   ("R10.9", "Abdominal pain"), ("J45.909", "Asthma, uncomplicated"),
                   ("S93.401A", "Ankle sprain"), ("H10.9", "Conjunctivitis"), ("R50.9", "Fever"),
                   ("L30.9", "Dermatitis"), ("F41.9", "Anxiety disorder"), ("E10.9", "Type 1 diabetes"),
                   ("T78.40XA", "Allergy, unspecified"), ("K59.00", "Constipation"),
                   ("R11.10", "Vomiting"), ("S01.81XA", "Laceration of head"), ("Z00.129", "Routine child exam"),
                   ("Z23", "Encounter for immunization"))
