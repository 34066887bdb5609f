"""The report as one self-contained HTML page: inline CSS and inline SVG, no script, nothing
fetched from anywhere. Everything printed goes through `html.escape`."""
from __future__ import annotations

from html import escape

from . import fmt, svg

CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1f2328;margin:0;background:#f6f8fa}
main{max-width:1180px;margin:0 auto;padding:24px 32px;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.total td{font-weight:600;background:#f6f8fa}
.verdict{font-size:16px;font-weight:600;padding:10px 14px;border-radius:6px;margin:12px 0}
.SUCCEEDED{background:#dafbe1;border:1px solid #4ac26b}.DRY_RUN{background:#ddf4ff;border:1px solid #54aeff}
.FAILED{background:#ffebe9;border:1px solid #ff8182}.INCOMPLETE,.UNKNOWN{background:#fff8c5;border:1px solid #d4a72c}
.badge{display:inline-block;padding:0 6px;border-radius:10px;font-size:12px;background:#eaeef2}
.b-done,.b-PASSED,.b-VALID,.b-LOADED{background:#dafbe1}.b-failed,.b-FAILED,.b-ISSUES_FOUND,.b-error{background:#ffebe9}
.b-skipped,.b-pending{background:#eaeef2}.b-running,.b-PASSED_WITH_WARNINGS,.b-warn,.b-DRY_RUN{background:#fff8c5}
.note{color:#57606a;font-style:italic}.muted{color:#57606a}
svg.chart{max-width:100%;height:auto;font-size:11px}svg .lb,svg .vl,svg .lg{fill:#1f2328}
ul.problems li{margin:2px 0}code{background:#eaeef2;padding:0 4px;border-radius:4px}
nav a{margin-right:10px;color:#0969da;text-decoration:none}
"""
SECTIONS = [("summary", "Summary"), ("phases", "Phases"), ("stores", "Stores"), ("anonymization", "Anonymization"),
            ("validation", "Validation"), ("load", "Load"), ("verify", "Verification"), ("timings", "Timings"),
            ("warnings", "Warnings"), ("errors", "Errors"), ("next", "Next steps"), ("artifacts", "Artifacts")]


def e(value) -> str:
    return escape(value if isinstance(value, str) else fmt.num(value), quote=True)


def _badge(value) -> str:
    text = str(value) if value is not None else "-"
    cls = "".join(c for c in text if c.isalnum() or c == "_")
    return f'<span class="badge b-{cls}">{e(text)}</span>'


def _table(header: list[str], rows: list[list], numeric: set[int] = frozenset(), total: list | None = None) -> str:
    if not rows:
        return '<p class="note">none</p>'
    out = ["<table><thead><tr>", *(f"<th>{e(h)}</th>" for h in header), "</tr></thead><tbody>"]
    for row, cls in [(r, "") for r in rows] + ([(total, ' class="total"')] if total else []):
        out.append(f"<tr{cls}>")
        for n, cell in enumerate(row):
            raw = isinstance(cell, tuple)  # (html,) cells are pre-escaped markup
            cls_attr = ' class="n"' if n in numeric else ""
            out.append(f"<td{cls_attr}>{cell[0] if raw else e(cell)}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _note(text) -> str:
    return f'<p class="note">{e(text)}</p>' if text else ""


def _list(items: list[str], cls: str = "problems") -> str:
    if not items:
        return '<p class="note">none</p>'
    return f'<ul class="{cls}">' + "".join(f"<li>{e(i)}</li>" for i in items) + "</ul>"


def _code_spans(text: str) -> str:
    """Escape, then show `...` spans as <code> (the backticks of the next steps)."""
    parts = text.split("`")
    return "".join(f"<code>{e(p)}</code>" if n % 2 else e(p) for n, p in enumerate(parts))


def render(report: dict) -> str:
    s = report["summary"]
    body = [f"<h1>Migration report: {e(report['run_id'])}</h1>",
            f'<p class="muted">generated {e(report["generated_at"])}</p>',
            "<nav>" + "".join(f'<a href="#{k}">{e(v)}</a>' for k, v in SECTIONS) + "</nav>",
            f'<section id="summary"><h2>Executive summary</h2>'
            f'<div class="verdict {e(s["status"])}">{e(s["verdict"])}</div>',
            _table(["", ""], [[k, v] for k, v in fmt.summary_rows(report)]), "</section>"]

    body.append('<section id="phases"><h2>Phases</h2>')
    body.append(_table(["phase", "status", "time", "rows", "rows/s", "error"],
                       [[p["name"], (_badge(p["status"]),), fmt.seconds(p["seconds"]), p["rows"], p["rows_per_s"],
                         p["error"] or ""] for p in report["phases"]], numeric={2, 3, 4}))
    body.append(svg.phases_chart(report["phases"]) + "</section>")

    stores = report["stores"]
    body.append('<section id="stores"><h2>Stores: rows per table and phase</h2>' + _note(stores.get("note")))
    if stores.get("stores"):
        body.append(svg.rows_chart(stores["stores"]))
    for store in stores.get("stores") or []:
        t = store["totals"]
        body.append(f"<h3>{e(store['store'])} <span class=\"muted\">({e(store['kind'])})</span></h3>")
        body.append(_table([h for _, h in fmt.STORE_COLUMNS],
                           [[i.get(k) if k != "ok" else ((_badge("ok" if i["ok"] else "MISMATCH"),)
                                                         if i["ok"] is not None else None)
                             for k, _ in fmt.STORE_COLUMNS] for i in store["items"]],
                           numeric={2, 3, 4, 5, 6, 8, 9, 10},
                           total=["total", ""] + [t.get(k) for k, _ in fmt.STORE_COLUMNS[2:7]] + [""]
                           + [t.get(k) for k in ("inserted", "updated", "unchanged")] + [""]))
    body.append("</section>")

    cov = report["anonymization"]
    body.append('<section id="anonymization"><h2>Anonymization coverage</h2>')
    if not cov.get("available"):
        body.append(_note(cov.get("note") or "not available"))
    else:
        body.append(f"<p>{e(cov['columns'])} columns in {e(cov['tables'])} tables/labels "
                    f"(source <code>{e(cov['source'])}</code>): <b>{e(cov['pii_columns'])}</b> treated as PII, "
                    f"<b>{e(cov['unclassified_columns'])}</b> with no rule.</p>")
        body.append(_table(["rule", "strategy", "columns"],
                           [[r["rule"], r["strategy"], r["columns"]] for r in cov["by_rule_strategy"]], numeric={2}))
        body.append(_table(["strategy", "columns"], [[k, v] for k, v in cov["by_strategy"].items()], numeric={1}))
        body.append(_table(["store", "columns", "PII", "no rule"],
                           [[k, v["columns"], v["pii"], v["unclassified"]] for k, v in cov["per_store"].items()],
                           numeric={1, 2, 3}))
        body.append("<h3>Possible PII without a rule</h3>")
        body.append(_table(["column", "why"], [[f["column"], f["reason"]] for f in cov["possible_pii_without_rule"]]))
    body.append("</section>")

    v = report["validation"]
    body.append('<section id="validation"><h2>Validation</h2>')
    if not v.get("available"):
        body.append(_note(v.get("note")))
    else:
        body.append(f"<p>Status {_badge(v.get('status') or '?')}"
                    + (f" ({e(v['reason'])})" if v.get("reason") else "")
                    + f"; blocking failures: <b>{e(v.get('blocking'))}</b>, "
                    f"warnings: <b>{e(v.get('warnings'))}</b>.</p>")
        if v.get("counts"):
            body.append('<p class="muted">' + e(", ".join(f"{k} {fmt.num(n)}" for k, n in v["counts"].items()))
                        + "</p>")
        body.append(_table(["severity", "tests", "passed", "failed", "errored", "skipped"], fmt.severity_rows(v),
                           numeric={1, 2, 3, 4, 5}))
        body.append(_table(["rule", "severity", "tests", "tests failed", "failing rows"],
                           [[r[0], (_badge(r[1]),), *r[2:]] for r in fmt.rule_rows(v)], numeric={2, 3, 4}))
        body.append("<h3>Failing tests</h3>")
        body.append(_table(["severity", "test", "model", "column", "rule", "failures", "sample keys"],
                           fmt.test_rows(v), numeric={5}))
        if v.get("model_errors"):
            body.append("<p>Models that failed to build: " + e(", ".join(v["model_errors"])) + "</p>")
    body.append("</section>")

    ld = report["load"]
    body.append('<section id="load"><h2>Load</h2>')
    if not ld.get("available"):
        body.append(_note(ld.get("note")))
    else:
        body.append(f"<p>Status {_badge(ld.get('status') or '?')}, strategy requested "
                    f"<code>{e(ld.get('strategy_requested') or '-')}</code>"
                    + (f"; error: {e(ld['error'])}" if ld.get("error") else "") + "</p>" + _note(ld.get("note")))
        body.append(_table(["strategy", "tables/groups", "rows", "inserted", "updated", "unchanged", "conflicts"],
                           fmt.strategy_rows(ld), numeric={1, 2, 3, 4, 5, 6}))
        if ld.get("conflicts"):
            body.append(_table(["conflicting item", "keys in CERT", "sample keys"],
                               [[n, c["count"], ", ".join(c["sample_keys"])] for n, c in ld["conflicts"].items()],
                               numeric={1}))
    body.append("</section>")

    vf = report["verify"]
    body.append('<section id="verify"><h2>Post-load verification</h2>')
    if not vf.get("available"):
        body.append(_note(vf.get("note")))
    else:
        body.append(f"<p>Status {_badge(vf.get('status') or '?')}: {e(vf['ok'])} of {e(vf['checked'])} tables and "
                    f"graph groups match (extracted = final = in CERT).</p>" + _list(vf["issues"]))
    body.append("</section>")

    body.append('<section id="timings"><h2>Timings and throughput</h2>')
    body.append(_table(["phase", "time", "rows", "rows/s"], fmt.timing_rows(report), numeric={1, 2, 3}))
    body.append(_table(["step", "time"], [list(d) for d in fmt.detail_timings(report)], numeric={1}) + "</section>")

    body.append(f'<section id="warnings"><h2>Warnings ({len(report["warnings"])})</h2>'
                f'{_list(report["warnings"])}</section>')
    body.append(f'<section id="errors"><h2>Errors ({len(report["errors"])})</h2>{_list(report["errors"])}</section>')
    body.append('<section id="next"><h2>Next steps</h2><ol>'
                + "".join(f"<li>{_code_spans(step)}</li>" for step in report["next_steps"]) + "</ol></section>")
    body.append('<section id="artifacts"><h2>Artifacts</h2>')
    body.append(_table(["artifact", "path", "present"],
                       [[a["name"], (f"<code>{e(a['path'])}</code>",), "yes" if a["exists"] else "no"]
                        for a in report["artifacts"]]) + "</section>")
    title = f"datamig report {report['run_id']}"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{e(title)}</title><style>{CSS}</style></head><body><main>\n"
            + "\n".join(body) + "\n</main></body></html>\n")
