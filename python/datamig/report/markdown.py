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
    out = []
    for section in (_summary, _phases, _stores, _coverage, _validation, _load, _verify, _timings, _closing):
        out += section(report)
    return "\n".join(out)


def _summary(report: dict) -> list[str]:
    s = report["summary"]
    return [f"# Migration report: {_text(report['run_id'])}", "",
            f"**{_text(s['verdict'])}**", "", f"Generated {report['generated_at']}.", "",
            "## Executive summary", ""] + _table(["", ""], [[k, v] for k, v in fmt.summary_rows(report)])


def _phases(report: dict) -> list[str]:
    return ["## Phases", ""] + _table(fmt.PHASE_HEADER, [
        [p["name"], p["status"], fmt.seconds(p["seconds"]), p["rows"], p["rows_per_s"], p["error"] or ""]
        for p in report["phases"]])


def _stores(report: dict) -> list[str]:
    stores = report["stores"]
    out = ["## Stores", ""] + ([f"_{_text(stores['note'])}_", ""] if stores.get("note") else [])
    for store in stores.get("stores") or []:
        out += [f"### {_text(store['store'])} ({store['kind']})", ""]
        out += _table([h for _, h in fmt.STORE_COLUMNS],
                      [[i.get(k) for k, _ in fmt.STORE_COLUMNS] for i in store["items"]]
                      + [["**total**", ""] + fmt.store_total(store) + [""]])
    return out


def _coverage(report: dict) -> list[str]:
    cov = report["anonymization"]
    if not cov.get("available"):
        return ["## Anonymization coverage", "", f"_{_text(cov.get('note') or 'not available')}_", ""]
    out = ["## Anonymization coverage", "",
           f"{fmt.num(cov['columns'])} columns in {fmt.num(cov['tables'])} tables/labels "
           f"(source: {_text(cov['source'])}): {fmt.num(cov['pii_columns'])} treated as PII, "
           f"{fmt.num(cov['unclassified_columns'])} with no rule.", ""]
    if fakes := fmt.fakes_line(cov):
        out += [_text(fakes), ""]
    for header, rows in fmt.coverage_tables(cov):
        out += _table(header, rows)
    return out + ["### Possible PII without a rule", ""] + _table(*fmt.possible_pii_table(cov))


def _validation(report: dict) -> list[str]:
    v = report["validation"]
    if not v.get("available"):
        return ["## Validation", "", f"_{_text(v.get('note'))}_", ""]
    out = ["## Validation", "",
           f"Status: **{_text(v.get('status') or '?')}**" + (f" ({_text(v['reason'])})" if v.get("reason") else "")
           + f"; blocking failures: {fmt.num(v.get('blocking'))}, warnings: {fmt.num(v.get('warnings'))}.", ""]
    if v.get("counts"):
        out += ["Counts: " + ", ".join(f"{_text(k)} {fmt.num(n)}" for k, n in v["counts"].items()), ""]
    out += _table(fmt.SEVERITY_HEADER, fmt.severity_rows(v)) + _table(fmt.RULE_HEADER, fmt.rule_rows(v))
    out += ["### Failing tests", ""] + _table(fmt.TEST_HEADER, fmt.test_rows(v))
    if v.get("model_errors"):
        out += ["Models that failed to build: " + ", ".join(_text(m) for m in v["model_errors"]), ""]
    return out


def _load(report: dict) -> list[str]:
    ld = report["load"]
    if not ld.get("available"):
        return ["## Load", "", f"_{_text(ld.get('note'))}_", ""]
    out = ["## Load", "",
           f"Status: **{_text(ld.get('status') or '?')}**, strategy requested: "
           f"{_text(ld.get('strategy_requested') or '-')}"
           + (f"; {_text(ld['note'])}" if ld.get("note") else "")
           + (f"; error: {_text(ld['error'])}" if ld.get("error") else ""), ""]
    out += _table(fmt.STRATEGY_HEADER, fmt.strategy_rows(ld))
    return out + (_table(*fmt.conflicts_table(ld)) if ld.get("conflicts") else [])


def _verify(report: dict) -> list[str]:
    vf = report["verify"]
    if not vf.get("available"):
        return ["## Post-load verification", "", f"_{_text(vf.get('note'))}_", ""]
    return ["## Post-load verification", "",
            f"Status: **{_text(vf.get('status') or '?')}**: {vf['ok']} of {vf['checked']} tables and graph "
            f"groups match (extracted = final = in CERT; for the graph, in CERT = final's distinct keys or "
            f"pairs).", ""] + _bullets(vf["issues"], "no issues")


def _timings(report: dict) -> list[str]:
    details = fmt.detail_timings(report)
    return (["## Timings and throughput", ""] + _table(fmt.TIMING_HEADER, fmt.timing_rows(report))
            + (_table(["step", "time"], [list(d) for d in details]) if details else []))


def _closing(report: dict) -> list[str]:
    """Warnings, errors, next steps, artifacts."""
    return (["## Warnings", ""] + _bullets(report["warnings"]) + ["## Errors", ""] + _bullets(report["errors"])
            + ["## Next steps", ""] + [f"{n}. {_text(step)}" for n, step in enumerate(report["next_steps"], 1)]
            + ["", "## Artifacts", ""]
            + _table(fmt.ARTIFACT_HEADER, [[a["name"], a["path"], "yes" if a["exists"] else "no"]
                                           for a in report["artifacts"]]))
