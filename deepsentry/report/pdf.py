"""The report as a PDF (fpdf2, the PDF core fonts; text is stored uncompressed so it can be searched)."""

from __future__ import annotations

import io
from typing import Any

from deepsentry.report import wording as W
from deepsentry.report.html import TRACK_COLOURS
from deepsentry.report.model import IMAGE_LIMITS, image_bytes

_PLAIN = str.maketrans({"–": "-", "—": "-", "…": "...", "“": '"', "”": '"', "‘": "'", "’": "'", "≥": ">=", "≤": "<="})


def _t(x: Any) -> str:
    """Text the core fonts can print (Latin-1); anything else becomes '?'."""
    return str("" if x is None else x).translate(_PLAIN).encode("latin-1", "replace").decode("latin-1")


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def _boxed_frame(thumb: dict[str, Any], faces: list[dict], media_w: int, media_h: int) -> io.BytesIO:
    from PIL import Image, ImageDraw

    from deepsentry.media import decode_image_bytes

    # decoded through deepsentry.media with the report's limits (its header was checked on arrival)
    img = Image.fromarray(decode_image_bytes(image_bytes(thumb["jpeg"], "thumbnail"), IMAGE_LIMITS))
    sx, sy = img.width / float(media_w or img.width), img.height / float(media_h or img.height)
    draw = ImageDraw.Draw(img)
    for i, face in enumerate(faces):
        for b in face.get("boxes") or []:
            if abs(float(b.get("t", 0)) - float(thumb.get("t", 0))) < 1e-3:
                box = [b["x"] * sx, b["y"] * sy, (b["x"] + b["w"]) * sx, (b["y"] + b["h"]) * sy]
                draw.rectangle(box, outline=(255, 255, 255), width=4)
                draw.rectangle(box, outline=_rgb(TRACK_COLOURS[i % len(TRACK_COLOURS)]), width=2)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    buf.seek(0)
    return buf


def _timeline(pdf, result: dict[str, Any], duration: float | None, x0: float, y0: float, w: float, h: float) -> float:
    faces = [f for f in result.get("faces") or [] if any(p.get("p") is not None for p in f.get("frame_probs") or [])]
    media, v = result.get("media") or {}, result.get("verdict") or {}
    if not faces or media.get("kind") == "image":
        return y0
    t_max = max(float(duration or media.get("duration") or 0), *(float(p["t"]) for f in faces for p in f["frame_probs"]),
                1e-3)
    X = lambda t: x0 + w * float(t) / t_max   # noqa: E731
    Y = lambda p: y0 + h * (1 - float(p))     # noqa: E731
    band = v.get("uncertain_band")
    if isinstance(band, list) and len(band) == 2:
        pdf.set_fill_color(240, 228, 205)
        pdf.rect(x0, Y(band[1]), w, Y(band[0]) - Y(band[1]), style="F")
    pdf.set_draw_color(60, 60, 60)
    pdf.line(x0, Y(0), x0 + w, Y(0))
    pdf.line(x0, Y(0), x0, Y(1))
    pdf.set_font("Helvetica", size=7)
    for p in (0, 0.5, 1):
        pdf.text(x0 - 9, Y(p) + 1, f"{int(p * 100)}%")
    pdf.text(x0 + w - 12, Y(0) + 4, f"{t_max:.1f} s")
    pdf.text(x0 + w / 2 - 12, Y(0) + 4, "time (s)")
    thr = v.get("threshold")
    if isinstance(thr, (int, float)):
        pdf.set_draw_color(183, 28, 28)
        pdf.set_dash_pattern(dash=1.5, gap=1)
        pdf.line(x0, Y(thr), x0 + w, Y(thr))
        pdf.set_dash_pattern()
        pdf.set_text_color(183, 28, 28)
        pdf.text(x0 + 1, Y(thr) - 1, f"threshold {W.percent(thr)}")
        pdf.set_text_color(0, 0, 0)
    for i, f in enumerate(faces):
        pdf.set_draw_color(*_rgb(TRACK_COLOURS[i % len(TRACK_COLOURS)]))
        pdf.set_line_width(0.6)
        pts = [(X(p["t"]), Y(p["p"])) for p in f["frame_probs"] if p.get("p") is not None]
        for a, b in zip(pts, pts[1:]):
            pdf.line(*a, *b)
        pdf.set_line_width(0.2)
        pdf.line(x0, y0 + h + 8 + 5 * i, x0 + 8, y0 + h + 8 + 5 * i)
        pdf.text(x0 + 10, y0 + h + 9 + 5 * i, _t(f"Face {i + 1}: fake score {W.percent(f.get('fake_prob'))}"))
    pdf.set_draw_color(0, 0, 0)
    return y0 + h + 10 + 5 * len(faces)


def render_pdf(report) -> bytes:
    from fpdf import FPDF
    from PIL import Image

    from deepsentry.media import decode_image_bytes

    r = report.result
    media, v, model = r.get("media") or {}, r.get("verdict") or {}, r.get("model") or {}
    word, sentence = W.headline(r)
    pdf = FPDF(format="A4")
    pdf.set_compression(False)
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 9, _t(f"deepsentry report: {word}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 6, _t(f"{sentence}. {W.frames_used(r)}"), new_x="LMARGIN", new_y="NEXT")
    for caution in W.cautions(r):
        pdf.multi_cell(0, 6, _t(f"Caution: {caution}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    rows = [("Fake score", W.percent(v.get("fake_prob"))), ("Threshold", W.percent(v.get("threshold"))),
            ("Media", report.source or "uploaded file"), ("Page", report.page_url or "-"),
            ("Kind / size", f"{media.get('kind')} {media.get('width')}x{media.get('height')}"),
            ("Duration", f"{report.duration:.2f} s" if report.duration else "-"),
            ("SHA-256", report.sha256), ("Analysed at", report.analysed_at),
            ("Model", f"{model.get('name', 'none')} {model.get('version', '')}"),
            ("Provenance", W.PROVENANCE_WORDS.get((r.get("provenance") or {}).get("verdict"), "not checked"))]
    rows += W.c2pa_summary((r.get("provenance") or {}).get("c2pa"))
    pdf.set_font("Helvetica", size=9)
    for k, val in rows:
        pdf.set_font("Helvetica", "B", 9)
        pdf.cell(38, 5, _t(k))
        pdf.set_font("Courier" if k == "SHA-256" else "Helvetica", size=8 if k == "SHA-256" else 9)
        pdf.multi_cell(0, 5, _t(val), new_x="LMARGIN", new_y="NEXT")
    thumbs = r.get("thumbnails") or []
    if thumbs:
        pdf.ln(3)
        pdf.set_font("Helvetica", "B", 12)
        pdf.cell(0, 7, "Frames analysed", new_x="LMARGIN", new_y="NEXT")
        x, y, cell_w = pdf.l_margin, pdf.get_y(), 44.0
        for th in thumbs:
            ratio = th["height"] / float(th["width"] or 1)
            if x + cell_w > pdf.w - pdf.r_margin:
                x, y = pdf.l_margin, y + cell_w * ratio + 6
            if y + cell_w * ratio > pdf.h - 20:
                pdf.add_page()
                x, y = pdf.l_margin, pdf.get_y()
            pdf.image(_boxed_frame(th, r.get("faces") or [], media.get("width"), media.get("height")), x, y, cell_w)
            pdf.set_font("Helvetica", size=7)
            pdf.text(x, y + cell_w * ratio + 3, f"{float(th.get('t', 0)):.2f} s")
            x += cell_w + 3
        pdf.set_y(y + cell_w * (thumbs[-1]["height"] / float(thumbs[-1]["width"] or 1)) + 7)
    faces = r.get("faces") or []
    if faces:
        pdf.set_font("Helvetica", "B", 12)
        pdf.cell(0, 7, "Faces", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=9)
        for i, f in enumerate(faces):
            if pdf.get_y() > pdf.h - 45:
                pdf.add_page()
            branches = ", ".join(f"{k} {W.percent(b.get('fake_prob') if isinstance(b, dict) else b)}"
                                 for k, b in (f.get("branches") or {}).items())
            line = f"Face {i + 1}: fake score {W.percent(f.get('fake_prob'))}, seen in {len(f.get('boxes') or [])} frame(s)"
            y = pdf.get_y()
            if (f.get("heatmap") or {}).get("png"):
                heat = Image.fromarray(decode_image_bytes(image_bytes(f["heatmap"]["png"], "heatmap"), IMAGE_LIMITS))
                pdf.image(heat, pdf.l_margin, y, 24, 24)
            pdf.set_xy(pdf.l_margin + 28, y)
            pdf.multi_cell(0, 5, _t(line + (f"; per branch: {branches}" if branches else "")
                                    + ("; heatmap: where the model looked" if f.get("heatmap") else "")),
                           new_x="LMARGIN", new_y="NEXT")
            pdf.set_y(max(pdf.get_y(), y + 26))
    if r.get("media", {}).get("kind") != "image" and faces:
        if pdf.get_y() > pdf.h - 80:
            pdf.add_page()
        pdf.set_font("Helvetica", "B", 12)
        pdf.cell(0, 7, "Fake score over time (shaded: uncertain band)", new_x="LMARGIN", new_y="NEXT")
        end = _timeline(pdf, r, report.duration, pdf.l_margin + 12, pdf.get_y() + 2, 150, 45)
        pdf.set_y(end + 2)
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 7, "Known limits", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=9)
    for limit in W.KNOWN_LIMITS:
        pdf.multi_cell(0, 5, _t(f"- {limit}"), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
