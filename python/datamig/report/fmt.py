"""Formatting shared by the Markdown and HTML renderers (plain text; each renderer escapes)."""
from __future__ import annotations

STORE_COLUMNS = [("item", "table / label / type"), ("kind", "kind"), ("extracted", "extracted"),
                 ("in_district", "in district"), ("parents", "parents pulled in"), ("final", "final"),
                 ("in_cert", "in CERT"), ("strategy", "strategy"), ("inserted", "inserted"),
                 ("updated", "updated"), ("unchanged", "unchanged"), ("ok", "ok")]


def num(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}" if value >= 100 else f"{value:,.3g}" if value < 1 else f"{value:,.2f}"
    return str(value)


def seconds(value) -> str:
    if value is None:
        return "-"
    value = float(value)
    if value >= 3600:
        return f"{int(value // 3600)}h {int(value % 3600 // 60):02d}m"
    if value >= 60:
        return f"{int(value // 60)}m {value % 60:04.1f}s"
    return f"{value:.2f}s"


def rows_line(rows: dict) -> str:
    parts = [f"{num(rows.get('tables'))} table rows"]
    if rows.get("nodes") is not None:
        parts.append(f"{num(rows.get('nodes'))} nodes")
    if rows.get("relationships") is not None:
        parts.append(f"{num(rows.get('relationships'))} relationships")
    line = f"{num(rows.get('total'))} ({', '.join(parts)})" if rows.get("total") is not None else "-"
    if rows.get("loaded") is not None:
        line += f"; {num(rows['loaded'])} written to CERT"
    return line


def summary_rows(report: dict) -> list[tuple[str, str]]:
    s = report["summary"]
    mode = "dry run" if s.get("dry_run") else "real run"
    return [
        ("status", s["status"] + (f" (at {s['failed_phase']})" if s.get("failed_phase") else "")),
        ("run", f"{report['run_id']} ({mode}, strategy {s.get('strategy') or '-'})"),
        ("district", num(s.get("district"))),
        ("started", s.get("created_at") or "-"),
        ("rows extracted", rows_line(s.get("rows") or {})),
        ("duration", seconds(s.get("duration_s"))),
        ("validation", s.get("validation_status") or "not run"),
        ("load", s.get("load_status") or "not run"),
        ("post-load verification", s.get("verify_status") or "not run"),
        ("in CERT now", _cert_line(s.get("cert"))),
    ]


def _cert_line(cert: dict | None) -> str:
    if not cert:
        return "never loaded"
    return cert["status"] + (f" (at {cert['at']})" if cert.get("at") else "")


def test_rows(validation: dict) -> list[list[str]]:
    return [[t["severity"], t["test"], t.get("model") or "-", t.get("column") or "-", t.get("rule") or "-",
             _failures(t), ", ".join(t.get("sample_keys") or []) or "-"]
            for t in validation.get("failing_tests") or []]


def _failures(test: dict) -> str:
    """A test that errored never ran: no count of rows, and no '-' read as none found."""
    return "errored" if test.get("status") == "error" else num(test.get("failures"))


def severity_rows(validation: dict) -> list[list]:
    return [[sev, c.get("tests"), c.get("passed"), c.get("failed"), c.get("errored"), c.get("skipped")]
            for sev, c in (validation.get("by_severity") or {}).items()]


def rule_rows(validation: dict) -> list[list]:
    return [[r["rule"], r["severity"], r.get("tests"), r.get("failed"), r.get("failures")]
            for r in validation.get("rules") or []]


def strategy_rows(load: dict) -> list[list[str]]:
    return [[name, num(s["items"]), num(s["rows"]), num(s["inserted"]), num(s["updated"]), num(s["unchanged"]),
             num(s["conflicts"])] for name, s in (load.get("by_strategy") or {}).items()]


def timing_rows(report: dict) -> list[list[str]]:
    return [[p["name"], seconds(p["seconds"]), num(p["rows"]), num(p["rows_per_s"])]
            for p in report["timings"]["phases"]]


def detail_timings(report: dict) -> list[tuple[str, str]]:
    t = report["timings"]
    out = [(f"extract {k}", seconds(v)) for k, v in (t.get("extract") or {}).items() if isinstance(v, (int, float))]
    out += [(f"transform {k}", seconds(v)) for k, v in (t.get("transform") or {}).items()]
    for store, ts in (t.get("load") or {}).items():
        for k, v in (ts or {}).items():
            if isinstance(v, (int, float)):
                out.append((f"load {store} {k}", seconds(v)))
    if t.get("load_elapsed_s") is not None:
        out.append(("load elapsed_s", seconds(t["load_elapsed_s"])))
    return out


# --- tables both renderers draw: (header, rows), plain values -------------------------------

def coverage_tables(cov: dict) -> list[tuple[list[str], list[list]]]:
    return [(["rule", "strategy", "columns"], [[r["rule"], r["strategy"], r["columns"]] for r in cov["by_rule_strategy"]]),
            (["strategy", "columns"], [[k, v] for k, v in cov["by_strategy"].items()]),
            (["store", "columns", "PII", "no rule"],
             [[k, v["columns"], v["pii"], v["unclassified"]] for k, v in cov["per_store"].items()])]


def possible_pii_table(cov: dict) -> tuple[list[str], list[list]]:
    return ["column", "why"], [[f["column"], f["reason"]] for f in cov["possible_pii_without_rule"]]


def conflicts_table(load: dict) -> tuple[list[str], list[list]]:
    return (["conflicting item", "keys in CERT", "sample keys"],
            [[n, c["count"], ", ".join(c["sample_keys"])] for n, c in (load.get("conflicts") or {}).items()])


def store_total(store: dict) -> list:
    t = store["totals"]
    return [t.get(k) for k, _ in STORE_COLUMNS[2:7]] + [""] + [t.get(k) for k in ("inserted", "updated", "unchanged")]


PHASE_HEADER = ["phase", "status", "time", "rows", "rows/s", "error"]
SEVERITY_HEADER = ["severity", "tests", "passed", "failed", "errored", "skipped"]
RULE_HEADER = ["rule", "severity", "tests", "tests failed", "failing rows"]
TEST_HEADER = ["severity", "test", "model", "column", "rule", "failures", "sample keys"]
STRATEGY_HEADER = ["strategy", "tables/groups", "rows", "inserted", "updated", "unchanged", "conflicts"]
TIMING_HEADER = ["phase", "time", "rows", "rows/s"]
ARTIFACT_HEADER = ["artifact", "path", "present"]



def fakes_line(cov: dict) -> str | None:
    """Where the fakes came from: the same in two runs (and the same salt), the same fakes."""
    f = cov.get("fakes")
    if not f:
        return None
    return (f"Fakes picked from dictionaries sha256 {str(f['dictionaries_sha256'])[:16]} (Faker {f.get('faker')}, "
            f"locale {f.get('locale')}, seed {f.get('dictionary_seed')}): runs that agree on it and on the salt "
            "fake every value alike.")
