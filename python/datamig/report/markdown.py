"""The report as Markdown (the same content as the HTML, without charts)."""
from __future__ import annotations

from . import fmt


def _cell(value) -> str:
    text = value if isinstance(value, str) else fmt.num(value)
    return (text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", " ").replace("\n", " "))


def _table(header: list[str], rows: list[list]) -> list[str]:
    if not rows:
        return ["_none_", ""]
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines + [""]


def _text(value: str) -> str:
    return _cell(value)


def _bullets(items: list[str], empty: str = "none") -> list[str]:
    return ([f"- {_text(i)}" for i in items] or [f"_{empty}_"]) + [""]


def render(report: dict) -> str:
    s = report["summary"]
    out = [f"# Migration report: {_text(report['run_id'])}", "",
           f"**{_text(s['verdict'])}**", "", f"Generated {report['generated_at']}.", "",
           "## Executive summary", ""]
    out += _table(["", ""], [[k, v] for k, v in fmt.summary_rows(report)])

    out += ["## Phases", ""]
    out += _table(["phase", "status", "time", "rows", "rows/s", "error"],
                  [[p["name"], p["status"], fmt.seconds(p["seconds"]), p["rows"], p["rows_per_s"], p["error"] or ""]
                   for p in report["phases"]])

    out += ["## Stores", ""]
    stores = report["stores"]
    if stores.get("note"):
        out += [f"_{_text(stores['note'])}_", ""]
    for store in stores.get("stores") or []:
        out += [f"### {_text(store['store'])} ({store['kind']})", ""]
        out += _table([h for _, h in fmt.STORE_COLUMNS],
                      [[i.get(k) for k, _ in fmt.STORE_COLUMNS] for i in store["items"]]
                      + [["**total**", ""] + [store["totals"].get(k) for k, _ in fmt.STORE_COLUMNS[2:7]]
                         + [""] + [store["totals"].get(k) for k in ("inserted", "updated", "unchanged")] + [""]])

    out += ["## Anonymization coverage", ""]
    cov = report["anonymization"]
    if not cov.get("available"):
        out += [f"_{_text(cov.get('note') or 'not available')}_", ""]
    else:
        out += [f"{fmt.num(cov['columns'])} columns in {fmt.num(cov['tables'])} tables/labels "
                f"(source: {_text(cov['source'])}): {fmt.num(cov['pii_columns'])} treated as PII, "
                f"{fmt.num(cov['unclassified_columns'])} with no rule.", ""]
        out += _table(["rule", "strategy", "columns"],
                      [[r["rule"], r["strategy"], r["columns"]] for r in cov["by_rule_strategy"]])
        out += ["Columns per strategy: " + ", ".join(f"{_text(k)} {v}" for k, v in cov["by_strategy"].items()), ""]
        out += _table(["store", "columns", "PII", "no rule"],
                      [[k, v["columns"], v["pii"], v["unclassified"]] for k, v in cov["per_store"].items()])
        out += ["### Possible PII without a rule", ""]
        out += _table(["column", "why"], [[f["column"], f["reason"]] for f in cov["possible_pii_without_rule"]])

    out += ["## Validation", ""]
    v = report["validation"]
    if not v.get("available"):
        out += [f"_{_text(v.get('note'))}_", ""]
    else:
        out += [f"Status: **{_text(v.get('status') or '?')}**" + (f" ({_text(v['reason'])})" if v.get("reason") else "")
                + f"; blocking failures: {fmt.num(v.get('blocking'))}, warnings: {fmt.num(v.get('warnings'))}.", ""]
        if v.get("counts"):
            out += ["Counts: " + ", ".join(f"{_text(k)} {fmt.num(n)}" for k, n in v["counts"].items()), ""]
        out += _table(["severity", "tests", "passed", "failed", "errored", "skipped"], fmt.severity_rows(v))
        out += _table(["rule", "severity", "tests", "tests failed", "failing rows"], fmt.rule_rows(v))
        out += ["### Failing tests", ""]
        out += _table(["severity", "test", "model", "column", "rule", "failures", "sample keys"], fmt.test_rows(v))
        if v.get("model_errors"):
            out += ["Models that failed to build: " + ", ".join(_text(m) for m in v["model_errors"]), ""]

    out += ["## Load", ""]
    ld = report["load"]
    if not ld.get("available"):
        out += [f"_{_text(ld.get('note'))}_", ""]
    else:
        out += [f"Status: **{_text(ld.get('status') or '?')}**, strategy requested: "
                f"{_text(ld.get('strategy_requested') or '-')}"
                + (f"; {_text(ld['note'])}" if ld.get("note") else "")
                + (f"; error: {_text(ld['error'])}" if ld.get("error") else ""), ""]
        out += _table(["strategy", "tables/groups", "rows", "inserted", "updated", "unchanged", "conflicts"],
                      fmt.strategy_rows(ld))
        if ld.get("conflicts"):
            out += _table(["conflicting item", "keys in CERT", "sample keys"],
                          [[n, c["count"], ", ".join(c["sample_keys"])] for n, c in ld["conflicts"].items()])

    out += ["## Post-load verification", ""]
    vf = report["verify"]
    if not vf.get("available"):
        out += [f"_{_text(vf.get('note'))}_", ""]
    else:
        out += [f"Status: **{_text(vf.get('status') or '?')}**: {vf['ok']} of {vf['checked']} tables and graph "
                f"groups match (extracted = final = in CERT).", ""]
        out += _bullets(vf["issues"], "no issues")

    out += ["## Timings and throughput", ""]
    out += _table(["phase", "time", "rows", "rows/s"], fmt.timing_rows(report))
    details = fmt.detail_timings(report)
    if details:
        out += _table(["step", "time"], [list(d) for d in details])

    out += ["## Warnings", ""] + _bullets(report["warnings"])
    out += ["## Errors", ""] + _bullets(report["errors"])
    out += ["## Next steps", ""] + [f"{n}. {_text(step)}" for n, step in enumerate(report["next_steps"], 1)] + [""]
    out += ["## Artifacts", ""]
    out += _table(["artifact", "path", "present"],
                  [[a["name"], a["path"], "yes" if a["exists"] else "no"] for a in report["artifacts"]])
    return "\n".join(out)
