"""The report as one HTML file: inline CSS, images as data: URLs, no script, nothing fetched."""

from __future__ import annotations

import html
import json
from typing import Any

from deepsentry.report import wording as W

# The HTML is data, not a page of ours: nothing in it may run or load, wherever it is opened.
REPORT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

# Track colours with at least 3:1 contrast on white (WCAG 2.1, non-text graphics), in track order.
TRACK_COLOURS = ("#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#e65100", "#00695c")

_CSS = """body{font:15px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1c1c1c;background:#fff;margin:0}
main{max-width:60rem;margin:0 auto;padding:1.5rem}h1{font-size:1.4rem;margin:0 0 .3rem}h2{font-size:1.1rem;margin:1.6rem 0 .5rem}
.pill{display:inline-block;padding:.15rem .7rem;border-radius:1rem;color:#fff;font-weight:700;background:#455a64}
.pill.fake,.pill.fake_strong{background:#b71c1c}.pill.real,.pill.real_strong{background:#1b5e20}.pill.uncertain{background:#8d5b00}
.pill.synthetic{background:#4a148c}.lead{font-size:1.1rem;margin:.4rem 0}.muted{color:#5f6368}
table{border-collapse:collapse}th,td{text-align:left;vertical-align:top;padding:.2rem .8rem .2rem 0}
td.hash{font-family:ui-monospace,monospace;word-break:break-all}.strip{display:flex;flex-wrap:wrap;gap:.5rem}
figure{margin:0}.frame{position:relative;display:inline-block;line-height:0}.frame img{width:220px;height:auto}
.frame svg{position:absolute;left:0;top:0;width:100%;height:100%}figcaption{font-size:.85em;color:#5f6368}
.heat img{width:128px;height:128px;image-rendering:auto}ul{padding-left:1.2rem}details{margin:.6rem 0}
pre{white-space:pre-wrap;word-break:break-all;font-size:.8em;background:#f5f5f5;padding:.6rem}"""


def esc(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _rows(rows: list[tuple[str, Any]], cls: dict[str, str] | None = None) -> str:
    cls = cls or {}
    return "<table>" + "".join(
        f"<tr><th>{esc(k)}</th><td{' class=' + chr(34) + cls[k] + chr(34) if k in cls else ''}>{esc(v)}</td></tr>"
        for k, v in rows) + "</table>"


def _frame_svg(faces: list[dict], t: float, w: int, h: int) -> str:
    parts = []
    for i, face in enumerate(faces):
        box = next((b for b in face.get("boxes", []) if abs(float(b.get("t", 0)) - t) < 1e-3), None)
        if box is None:
            continue
        c = TRACK_COLOURS[i % len(TRACK_COLOURS)]
        sw = max(2.0, w / 160)
        parts.append(f'<rect x="{box["x"]:.1f}" y="{box["y"]:.1f}" width="{box["w"]:.1f}" height="{box["h"]:.1f}" '
                     f'fill="none" stroke="#fff" stroke-width="{sw * 2:.1f}"/><rect x="{box["x"]:.1f}" '
                     f'y="{box["y"]:.1f}" width="{box["w"]:.1f}" height="{box["h"]:.1f}" fill="none" stroke="{c}" '
                     f'stroke-width="{sw:.1f}"><title>Face {i + 1}</title></rect>')
    return (f'<svg viewBox="0 0 {w} {h}" preserveAspectRatio="none" role="img" '
            f'aria-label="face boxes">{"".join(parts)}</svg>')


def frames_section(result: dict[str, Any]) -> str:
    thumbs = result.get("thumbnails") or []
    media = result.get("media") or {}
    if not thumbs:
        return "<p class=muted>No frames in this result (analyse with explain to include them).</p>"
    w, h = media.get("width") or thumbs[0]["width"], media.get("height") or thumbs[0]["height"]
    figs = []
    for th in thumbs:
        t = float(th.get("t", 0))
        cap = "the image" if media.get("kind") == "image" else f"{t:.2f} s"
        figs.append(f'<figure><div class="frame"><img alt="frame at {esc(cap)}" src="data:image/jpeg;base64,'
                    f'{esc(th.get("jpeg", ""))}">{_frame_svg(result.get("faces") or [], t, w, h)}</div>'
                    f'<figcaption>{esc(cap)}</figcaption></figure>')
    return f'<div class="strip">{"".join(figs)}</div>'


def timeline_svg(result: dict[str, Any], duration: float | None = None) -> str:
    """Fake score over time per face: legend, axis titles, the threshold labelled, the uncertain band shaded."""
    faces = [f for f in result.get("faces") or [] if any(p.get("p") is not None for p in f.get("frame_probs") or [])]
    media = result.get("media") or {}
    if not faces or media.get("kind") == "image":
        return "<p class=muted>A still image has no timeline.</p>" if media.get("kind") == "image" else \
            "<p class=muted>No per-frame scores.</p>"
    v = result.get("verdict") or {}
    W_, H_, L, R, T, B = 640, 220, 52, 16, 14, 44
    t_max = max(float(duration or media.get("duration") or 0), *(float(p["t"]) for f in faces for p in f["frame_probs"]),
                1e-3)
    X = lambda t: L + (W_ - L - R) * float(t) / t_max  # noqa: E731
    Y = lambda p: T + (H_ - T - B) * (1 - float(p))    # noqa: E731
    out = [f'<svg viewBox="0 0 {W_} {H_ + 24 * len(faces)}" width="{W_}" role="img" '
           f'aria-label="fake score over time for each face" font-size="12" font-family="system-ui,sans-serif">']
    band = v.get("uncertain_band")
    if isinstance(band, list) and len(band) == 2:
        out.append(f'<rect x="{L}" y="{Y(band[1]):.1f}" width="{W_ - L - R}" height="{Y(band[0]) - Y(band[1]):.1f}" '
                   f'fill="#8d5b00" fill-opacity="0.14"/><text x="{W_ - R - 4}" y="{Y(band[1]) + 13:.1f}" '
                   f'text-anchor="end" fill="#6b4500">uncertain band</text>')
    for p in (0, 0.25, 0.5, 0.75, 1):
        out.append(f'<line x1="{L - 4}" x2="{L}" y1="{Y(p):.1f}" y2="{Y(p):.1f}" stroke="#444"/>'
                   f'<text x="{L - 7}" y="{Y(p) + 4:.1f}" text-anchor="end" fill="#333">{int(p * 100)}%</text>')
    for k in range(6):
        t = t_max * k / 5
        out.append(f'<text x="{X(t):.1f}" y="{H_ - B + 16}" text-anchor="middle" fill="#333">{t:.1f}</text>')
    out.append(f'<line x1="{L}" y1="{Y(0)}" x2="{W_ - R}" y2="{Y(0)}" stroke="#444"/>'
               f'<line x1="{L}" y1="{Y(0)}" x2="{L}" y2="{Y(1)}" stroke="#444"/>'
               f'<text x="{(L + W_ - R) / 2}" y="{H_ - 8}" text-anchor="middle" fill="#333">time in the video (s)</text>'
               f'<text transform="translate(13 {(T + H_ - B) / 2}) rotate(-90)" text-anchor="middle" '
               f'fill="#333">fake score</text>')
    thr = v.get("threshold")
    if isinstance(thr, (int, float)):
        out.append(f'<line x1="{L}" x2="{W_ - R}" y1="{Y(thr):.1f}" y2="{Y(thr):.1f}" stroke="#b71c1c" '
                   f'stroke-dasharray="6 4" stroke-width="1.5"/><text x="{L + 6}" y="{Y(thr) - 5:.1f}" '
                   f'fill="#b71c1c" class="threshold-label">threshold {W.percent(thr)}</text>')
    for i, f in enumerate(faces):
        c = TRACK_COLOURS[i % len(TRACK_COLOURS)]
        pts = " ".join(f"{X(p['t']):.1f},{Y(p['p']):.1f}" for p in f["frame_probs"] if p.get("p") is not None)
        out.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="2.5"/>')
        ly = H_ + 24 * i + 6
        out.append(f'<line x1="{L}" x2="{L + 26}" y1="{ly}" y2="{ly}" stroke="{c}" stroke-width="3"/>'
                   f'<text x="{L + 32}" y="{ly + 4}" fill="#1c1c1c">Face {i + 1}: fake score '
                   f'{W.percent(f.get("fake_prob"))}</text>')
    out.append("</svg>")
    return "".join(out)


def faces_section(result: dict[str, Any]) -> str:
    faces = result.get("faces") or []
    if not faces:
        return "<p>No face was judged.</p>"
    rows = []
    for i, f in enumerate(faces):
        branches = ", ".join(f"{esc(k)} {W.percent(b.get('fake_prob') if isinstance(b, dict) else b)}"
                             for k, b in (f.get("branches") or {}).items()) or "–"
        heat = f.get("heatmap") or {}
        img = (f'<img alt="heatmap of face {i + 1}" src="data:image/png;base64,{esc(heat["png"])}">'
               if heat.get("png") else "–")
        rows.append(f"<tr><td>Face {i + 1}</td><td>{len(f.get('boxes') or [])}</td>"
                    f"<td>{W.percent(f.get('fake_prob'))}</td><td>{branches}</td><td class=heat>{img}</td></tr>")
    return ("<table><tr><th>Face</th><th>Frames seen</th><th>Fake score</th><th>Per branch</th>"
            "<th>Heatmap (where the model looked)</th></tr>" + "".join(rows) + "</table>")


def provenance_section(result: dict[str, Any]) -> str:
    prov = result.get("provenance")
    if not prov:
        return "<p class=muted>Not checked (frames captured by the browser carry no file to check).</p>"
    parts = [f"<p>{esc(W.PROVENANCE_WORDS.get(prov.get('verdict'), prov.get('verdict')))}</p>"]
    if prov.get("c2pa"):
        parts.append("<h3>Content Credentials (C2PA)</h3>" + _rows(W.c2pa_summary(prov["c2pa"])))
    tech = {k: prov.get(k) for k in ("record", "ledger", "watermark", "fingerprint_similarity", "evidence") if prov.get(k)}
    if tech:
        parts.append("<details><summary>Technical details: ledger record and evidence</summary><pre>"
                     f"{esc(json.dumps(tech, indent=2, default=str))}</pre></details>")
    return "".join(parts)


def render_html(report) -> str:
    r = report.result
    media, v, model = r.get("media") or {}, r.get("verdict") or {}, r.get("model") or {}
    word, sentence = W.headline(r)
    g = "synthetic" if word == "REGISTERED SYNTHETIC" else W.grade(v)
    rows: list[tuple[str, Any]] = [
        ("Fake score", W.percent(v.get("fake_prob"))),
        ("Threshold", W.percent(v.get("threshold"))),
        ("Uncertain between", " and ".join(W.percent(b) for b in v["uncertain_band"])
         if isinstance(v.get("uncertain_band"), list) else "–"),
        ("Media", report.source or "uploaded file"), ("Page", report.page_url or "–"),
        ("Kind", media.get("kind")), ("Size", f"{media.get('width')}×{media.get('height')}"),
        ("Duration", f"{report.duration:.2f} s" if report.duration else "–"),
        ("SHA-256", report.sha256), ("Analysed at", report.analysed_at),
        ("Model", f"{model.get('name', 'none')} {model.get('version', '')}".strip()),
    ]
    raw = {k: val for k, val in r.items() if k != "thumbnails"}
    raw["faces"] = [{k: val for k, val in f.items() if k != "heatmap"} for f in r.get("faces") or []]
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<meta http-equiv=Content-Security-Policy content=\"{REPORT_CSP}\">"
        f"<title>deepsentry report: {esc(word)} ({esc(report.sha256[:12])})</title><style>{_CSS}</style></head><body><main>"
        f"<h1>deepsentry report <span class='pill {esc(g)}' id=verdict>{esc(word)}</span></h1>"
        f"<p class=lead>{esc(sentence)}. {esc(W.frames_used(r))}</p>"
        + "".join(f"<p><strong>Caution:</strong> {esc(c)}</p>" for c in W.cautions(r))
        + _rows(rows, {"SHA-256": "hash"})
        + "<h2>Frames analysed</h2>" + frames_section(r)
        + "<h2>Faces</h2>" + faces_section(r)
        + "<h2>Fake score over time</h2>" + timeline_svg(r, report.duration)
        + "<h2>Provenance</h2>" + provenance_section(r)
        + "<h2>Known limits</h2><ul>" + "".join(f"<li>{esc(x)}</li>" for x in W.KNOWN_LIMITS) + "</ul>"
        + "<details><summary>Technical details: the full result</summary><pre>"
        + esc(json.dumps(raw, indent=2, default=str)) + "</pre></details>"
        + "<p class=muted>Made by deepsentry on the user's own computer; nothing was uploaded.</p></main></body></html>")
