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
.FAILED{background:#ffebe9;border:1px solid #ff8182}.CANCELLED,.INCOMPLETE,.INTERRUPTED,.UNKNOWN{background:#fff8c5;border:1px solid #d4a72c}
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
    body = []
    for section in (_summary, _phases, _stores, _coverage, _validation, _load, _verify, _timings, _closing):
        body += section(report)
    title = f"datamig report {report['run_id']}"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{e(title)}</title><style>{CSS}</style></head><body><main>\n"
            + "\n".join(body) + "\n</main></body></html>\n")


def _summary(report: dict) -> list[str]:
    s = report["summary"]
    return [f"<h1>Migration report: {e(report['run_id'])}</h1>",
            f'<p class="muted">generated {e(report["generated_at"])}</p>',
            "<nav>" + "".join(f'<a href="#{k}">{e(v)}</a>' for k, v in SECTIONS) + "</nav>",
            f'<section id="summary"><h2>Executive summary</h2>'
            f'<div class="verdict {e(s["status"])}">{e(s["verdict"])}</div>',
            _table(["", ""], [[k, v] for k, v in fmt.summary_rows(report)]), "</section>"]


def _phases(report: dict) -> list[str]:
    rows = [[p["name"], (_badge(p["status"]),), fmt.seconds(p["seconds"]), p["rows"], p["rows_per_s"], p["error"] or ""]
            for p in report["phases"]]
    return ['<section id="phases"><h2>Phases</h2>', _table(fmt.PHASE_HEADER, rows, numeric={2, 3, 4}),
            svg.phases_chart(report["phases"]) + "</section>"]


def _stores(report: dict) -> list[str]:
    stores = report["stores"]
    body = ['<section id="stores"><h2>Stores: rows per table and phase</h2>' + _note(stores.get("note"))]
    if stores.get("stores"):
        body.append(svg.rows_chart(stores["stores"]))
    for store in stores.get("stores") or []:
        body.append(f"<h3>{e(store['store'])} <span class=\"muted\">({e(store['kind'])})</span></h3>")
        body.append(_table([h for _, h in fmt.STORE_COLUMNS], [_store_row(i) for i in store["items"]],
                           numeric={2, 3, 4, 5, 6, 8, 9, 10}, total=["total", ""] + fmt.store_total(store) + [""]))
    return body + ["</section>"]


def _store_row(item: dict) -> list:
    ok = item["ok"]
    return [item.get(k) for k, _ in fmt.STORE_COLUMNS[:-1]] + [
        (_badge("ok" if ok else "MISMATCH"),) if ok is not None else None]


def _coverage(report: dict) -> list[str]:
    cov = report["anonymization"]
    body = ['<section id="anonymization"><h2>Anonymization coverage</h2>']
    if not cov.get("available"):
        return body + [_note(cov.get("note") or "not available"), "</section>"]
    body.append(f"<p>{e(cov['columns'])} columns in {e(cov['tables'])} tables/labels "
                f"(source <code>{e(cov['source'])}</code>): <b>{e(cov['pii_columns'])}</b> treated as PII, "
                f"<b>{e(cov['unclassified_columns'])}</b> with no rule.</p>")
    if fakes := fmt.fakes_line(cov):
        body.append(f"<p>{e(fakes)}</p>")
    body += [_table(header, rows, numeric={i for i, h in enumerate(header) if h not in ("rule", "strategy", "store")})
             for header, rows in fmt.coverage_tables(cov)]
    body += ["<h3>Possible PII without a rule</h3>", _table(*fmt.possible_pii_table(cov)), "</section>"]
    return body


def _validation(report: dict) -> list[str]:
    v = report["validation"]
    body = ['<section id="validation"><h2>Validation</h2>']
    if not v.get("available"):
        return body + [_note(v.get("note")), "</section>"]
    body.append(f"<p>Status {_badge(v.get('status') or '?')}"
                + (f" ({e(v['reason'])})" if v.get("reason") else "")
                + f"; blocking failures: <b>{e(v.get('blocking'))}</b>, "
                f"warnings: <b>{e(v.get('warnings'))}</b>.</p>")
    if v.get("counts"):
        body.append('<p class="muted">' + e(", ".join(f"{k} {fmt.num(n)}" for k, n in v["counts"].items())) + "</p>")
    body.append(_table(fmt.SEVERITY_HEADER, fmt.severity_rows(v), numeric={1, 2, 3, 4, 5}))
    body.append(_table(fmt.RULE_HEADER, [[r[0], (_badge(r[1]),), *r[2:]] for r in fmt.rule_rows(v)],
                       numeric={2, 3, 4}))
    body += ["<h3>Failing tests</h3>", _table(fmt.TEST_HEADER, fmt.test_rows(v), numeric={5})]
    if v.get("model_errors"):
        body.append("<p>Models that failed to build: " + e(", ".join(v["model_errors"])) + "</p>")
    return body + ["</section>"]


def _load(report: dict) -> list[str]:
    ld = report["load"]
    body = ['<section id="load"><h2>Load</h2>']
    if not ld.get("available"):
        return body + [_note(ld.get("note")), "</section>"]
    body.append(f"<p>Status {_badge(ld.get('status') or '?')}, strategy requested "
                f"<code>{e(ld.get('strategy_requested') or '-')}</code>"
                + (f"; error: {e(ld['error'])}" if ld.get("error") else "") + "</p>" + _note(ld.get("note")))
    body.append(_table(fmt.STRATEGY_HEADER, fmt.strategy_rows(ld), numeric={1, 2, 3, 4, 5, 6}))
    if ld.get("conflicts"):
        body.append(_table(*fmt.conflicts_table(ld), numeric={1}))
    return body + ["</section>"]


def _verify(report: dict) -> list[str]:
    vf = report["verify"]
    body = ['<section id="verify"><h2>Post-load verification</h2>']
    if not vf.get("available"):
        return body + [_note(vf.get("note")), "</section>"]
    return body + [f"<p>Status {_badge(vf.get('status') or '?')}: {e(vf['ok'])} of {e(vf['checked'])} tables and "
                   f"graph groups match (extracted = final = in CERT; for the graph, in CERT = final's distinct "
                   f"keys or pairs).</p>" + _list(vf["issues"]), "</section>"]


def _timings(report: dict) -> list[str]:
    return ['<section id="timings"><h2>Timings and throughput</h2>',
            _table(fmt.TIMING_HEADER, fmt.timing_rows(report), numeric={1, 2, 3}),
            _table(["step", "time"], [list(d) for d in fmt.detail_timings(report)], numeric={1}) + "</section>"]


def _closing(report: dict) -> list[str]:
    """Warnings, errors, next steps, artifacts."""
    artifacts = [[a["name"], (f"<code>{e(a['path'])}</code>",), "yes" if a["exists"] else "no"]
                 for a in report["artifacts"]]
    return [f'<section id="warnings"><h2>Warnings ({len(report["warnings"])})</h2>'
            f'{_list(report["warnings"])}</section>',
            f'<section id="errors"><h2>Errors ({len(report["errors"])})</h2>{_list(report["errors"])}</section>',
            '<section id="next"><h2>Next steps</h2><ol>'
            + "".join(f"<li>{_code_spans(step)}</li>" for step in report["next_steps"]) + "</ol></section>",
            '<section id="artifacts"><h2>Artifacts</h2>', _table(fmt.ARTIFACT_HEADER, artifacts) + "</section>"]
