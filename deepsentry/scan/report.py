"""The end-of-run summary, as text for the terminal and as one self-contained HTML page."""

from __future__ import annotations

import html
from pathlib import Path

from deepsentry.scan.driver import ScanSummary

VERDICT_WORDS = {"fake": "likely fake", "real": "likely real", "uncertain": "uncertain", "no_faces": "no face found",
                 "error": "could not be checked"}


def summary_text(s: ScanSummary) -> str:
    lines = [f"{s.scanned} item(s) scanned in {s.seconds:.1f} s with {s.executor}"
             + (f"; {s.skipped} already in the results, skipped" if s.skipped else "")
             + (f"; {s.not_started} not started (byte cap or interrupted): run again with --resume"
                if s.not_started else "")]
    counts = s.counts()
    lines.append("verdicts: " + ", ".join(f"{VERDICT_WORDS.get(k, k)} {n}" for k, n in sorted(counts.items())))
    top = [r for r in s.suspicious(10) if float(r["fake_prob"]) > 0]
    if top:
        lines.append("most suspicious:")
        lines += [f"  {float(r['fake_prob']):.0%}  {VERDICT_WORDS.get(r.get('verdict'), r.get('verdict'))}  {r['item']}"
                  for r in top]
    if s.errors():
        lines.append("not checked, by reason: " + ", ".join(f"{k} {n}" for k, n in sorted(s.errors().items())))
    return "\n".join(lines)


_STYLE = """body{font:14px system-ui,sans-serif;margin:24px;color:#1a1a1a}table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #ddd;padding:6px 8px;text-align:left;vertical-align:middle}
th{cursor:pointer;background:#f3f3f3;user-select:none}th:after{content:" \\2195";color:#888}
.fake{color:#b00020;font-weight:600}.real{color:#1b5e20;font-weight:600}.uncertain{color:#8a5a00;font-weight:600}
.error,.no_faces{color:#555}img{max-height:90px;border-radius:3px}"""

_SORT = """document.querySelectorAll('th').forEach((th,i)=>th.addEventListener('click',()=>{
const tb=th.closest('table').tBodies[0],rows=[...tb.rows],asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';
rows.sort((a,b)=>{const x=a.cells[i].dataset.v??a.cells[i].textContent,y=b.cells[i].dataset.v??b.cells[i].textContent;
const nx=parseFloat(x),ny=parseFloat(y);const c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);return asc?c:-c});
rows.forEach(r=>tb.appendChild(r))}));"""


def _histogram(records) -> str:
    """An SVG histogram of fake probabilities, 20 bins, bars stacked by verdict."""
    bins = [{"fake": 0, "uncertain": 0, "real": 0} for _ in range(20)]
    for r in records:
        if r.get("status") == "ok" and r.get("fake_prob") not in (None, ""):
            b = min(19, int(float(r["fake_prob"]) * 20))
            bins[b][r.get("verdict") if r.get("verdict") in bins[b] else "uncertain"] += 1
    top = max(1, max(sum(b.values()) for b in bins))
    colours = {"real": "#2e7d32", "uncertain": "#b7791f", "fake": "#c62828"}
    parts = []
    for i, b in enumerate(bins):
        y = 160
        for k in ("real", "uncertain", "fake"):
            h = 150 * b[k] / top
            if h:
                y -= h
                parts.append(f'<rect x="{40 + i * 22}" y="{y:.1f}" width="20" height="{h:.1f}" fill="{colours[k]}">'
                             f'<title>{k}: {b[k]} item(s), p(fake) {i / 20:.2f}-{(i + 1) / 20:.2f}</title></rect>')
    axis = ('<line x1="38" y1="160" x2="482" y2="160" stroke="#333"/>'
            '<text x="40" y="178" font-size="11">0</text><text x="250" y="178" font-size="11">0.5</text>'
            '<text x="462" y="178" font-size="11">1</text>'
            '<text x="170" y="196" font-size="12">probability of fake (items per bin)</text>'
            f'<text x="4" y="14" font-size="11">{top}</text>')
    return f'<svg width="500" height="200" role="img" aria-label="histogram of fake probabilities">{axis}{"".join(parts)}</svg>'


def write_html(s: ScanSummary, out_dir: Path) -> Path:
    """``out_dir/index.html``: counts, the score histogram and a sortable table of every item with its
    thumbnail (faces boxed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for r in sorted(s.records, key=lambda r: -float(r.get("fake_prob") or 0) if r.get("status") == "ok" else 1):
        verdict = r.get("verdict") or "error"
        p = r.get("fake_prob")
        thumb = f'<img alt="frame with face boxes" src="data:image/jpeg;base64,{r["thumb"]}">' if r.get("thumb") else ""
        why = html.escape((r.get("error") or {}).get("message") or "") if verdict == "error" else ""
        rows.append(f"<tr><td>{thumb}</td><td>{html.escape(str(r['item']))}</td>"
                    f'<td class="{verdict}">{html.escape(VERDICT_WORDS.get(verdict, verdict))}</td>'
                    f'<td data-v="{"" if p in (None, "") else float(p)}">{"" if p in (None, "") else f"{float(p):.0%}"}</td>'
                    f"<td>{r.get('faces') or ''}</td><td>{html.escape(str(r.get('provenance') or ''))}</td>"
                    f"<td>{why}</td></tr>")
    counts = ", ".join(f"{VERDICT_WORDS.get(k, k)}: {n}" for k, n in sorted(s.counts().items()))
    page = (f"<!doctype html><html lang=en><meta charset=utf-8><title>deepsentry scan</title><style>{_STYLE}</style>"
            f"<h1>deepsentry scan</h1><p>{len(s.records)} item(s). {html.escape(counts)}.</p>{_histogram(s.records)}"
            "<table><thead><tr><th>frame</th><th>item</th><th>verdict</th><th>fake</th><th>faces</th>"
            f"<th>provenance</th><th>why not checked</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
            f"<script>{_SORT}</script></html>")
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
