"""``deepsentry watermark embed IN OUT [--id N]`` and ``deepsentry watermark detect FILE [--json]``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers) -> None:
    wm = subparsers.add_parser("watermark", help="embed or read the invisible watermark")
    sub = wm.add_subparsers(dest="watermark_command", metavar="ACTION")

    embed = sub.add_parser("embed", help="mark an image or video; prints the watermark id used (read back from the "
                                         "output: a still without --id gets another random id if its first does not read)")
    embed.add_argument("input", help="image (png/jpg/...) or video file")
    embed.add_argument("output", help="where to write the marked copy (video: H.264 mp4/mkv)")
    embed.add_argument("--id", type=_id_arg, default=None, help="watermark id (0..2^32-1); random when omitted")
    embed.add_argument("--crf", type=int, default=18, help="H.264 CRF for video output (default 18)")
    embed.add_argument("--refine", type=_steps_arg, default=None, metavar="STEPS",
                       help="video: gradient steps that fit every key frame's mark to the decoder (more robust to "
                            "re-encoding and crops; about 4.3 s per key frame on a 2-core CPU for 4 steps). "
                            "Default: DEEPSENTRY_WM_REFINE if set, else 4 steps, on a GPU for every key frame and "
                            "on the CPU for the first of each polarity and one more per 90 frames. Still images "
                            "are always refined (8 steps, up to 24 on hard textures)")
    embed.add_argument("--json", action="store_true",
                       help="print {\"id\": N, \"verified\": true|false} (the output read back) and errors as JSON")
    embed.set_defaults(func=_embed)

    detect = sub.add_parser("detect", help="read the watermark of an image or video")
    detect.add_argument("file")
    detect.add_argument("--json", action="store_true",
                        help='print {"id", "confidence", "frames_agreeing", "frames_decoded"}')
    detect.set_defaults(func=_detect)
    wm.set_defaults(func=lambda args: (wm.print_help(), 2)[1])


def _id_arg(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 0 <= value < 2 ** 32:
        raise argparse.ArgumentTypeError("watermark id must be in [0, 4294967295]")
    return value


def _steps_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of steps: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("--refine must be 0 or more")
    return value


def _embed(args) -> int:
    from deepsentry import media
    from deepsentry.watermark import embed_image_file, embed_video, new_watermark_id
    from deepsentry.watermark._io import reads_back

    src = Path(args.input)
    if media.open(src).kind == "image":
        # without --id the still is read back inside, and another id drawn when it does not read
        wm_id = embed_image_file(src, args.output, args.id)
        verified = args.id is None or reads_back(args.output, wm_id)
    else:
        wm_id = args.id if args.id is not None else new_watermark_id()
        embed_video(src, args.output, wm_id, crf=args.crf, refine=args.refine)
        verified = reads_back(args.output, wm_id)
    if not verified:
        print(f"warning: {args.output} was written but does not read back as watermark id {wm_id}; "
              "omit --id (stills) or raise --refine (video) for a mark that reads", file=sys.stderr)
    print(json.dumps({"id": wm_id, "verified": verified}) if args.json else wm_id)
    return 0


def _detect(args) -> int:
    from deepsentry.watermark import detect_report

    report = detect_report(args.file)
    if args.json:
        print(json.dumps(report.to_json()))
    elif report.result is None:
        print(f"no watermark ({report.frames_decoded} frame(s) decoded)")
    else:
        r = report.result
        print(f"watermark id {r.id} (confidence {r.confidence:.6f}, {r.frames_agreeing}/{r.frames_decoded} frames agree)")
    return 0
