"""The scoring formulas users know (size, activity, completeness, business priority), with
completeness made concrete: the share of required cells (config `selection.required_fields`)
that are neither NULL nor empty across the district's rows."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Filters:
    min_students: int = 5_000
    min_schools: int = 10
    min_records: int = 50_000
    max_records: int = 2_000_000
    min_completeness: float = 85.0
    require_recent_activity: bool = True


@dataclass
class DistrictMetrics:
    district: int
    name: str
    students: int
    schools: int
    staff: int
    total_records: int
    updates_30d: int
    completeness: float
    business_priority: float = 50.0
    records_by_store: dict[str, int] = field(default_factory=dict)

    def scores(self) -> dict[str, float]:
        size = min(100.0, self.total_records / 1_000_000 * 100)
        activity = min(100.0, self.updates_30d / 10_000 * 100)
        score = 0.40 * size + 0.30 * activity + 0.20 * self.completeness + 0.10 * self.business_priority
        return {"size": round(size, 2), "activity": round(activity, 2), "score": round(score, 2)}

    def size_class(self) -> str:
        if self.total_records >= 700_000:
            return "large"
        return "medium" if self.total_records >= 300_000 else "small"

    def failed_filters(self, f: Filters) -> list[str]:
        checks = [
            (self.students >= f.min_students, f"students < {f.min_students:,}"),
            (self.schools >= f.min_schools, f"schools < {f.min_schools}"),
            (f.min_records <= self.total_records <= f.max_records,
             f"records outside {f.min_records:,}-{f.max_records:,}"),
            (self.completeness >= f.min_completeness, f"completeness < {f.min_completeness}"),
            (self.updates_30d > 0 or not f.require_recent_activity, "no activity in the last 30 days"),
        ]
        return [reason for ok, reason in checks if not ok]

    def to_dict(self, f: Filters) -> dict:
        failed = self.failed_filters(f)
        return {**asdict(self), **self.scores(), "size_class": self.size_class(),
                "eligible": not failed, "failed_filters": failed}


def rank(metrics: list[DistrictMetrics], filters: Filters, top: int) -> dict:
    """Ranked districts, the eligible top N, and one pilot per size class (best score first)."""
    rows = sorted((m.to_dict(filters) for m in metrics), key=lambda r: (-r["score"], r["district"]))
    eligible = [r for r in rows if r["eligible"]]
    pilots = {}
    for row in eligible:
        pilots.setdefault(row["size_class"], row["district"])
    return {"filters": asdict(filters), "districts": rows, "recommended": [r["district"] for r in eligible[:top]],
            "pilots": {k: pilots.get(k) for k in ("large", "medium", "small")}}
