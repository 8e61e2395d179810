"""``deepsentry serve``, ``pair``, ``doctor``, ``check`` and ``report``."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deepsentry.detector.result import AnalysisResult


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the detection daemon (127.0.0.1 by default)")
    p.add_argument("--host", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8765; 0 picks a free one)")
    p.add_argument("--device", help="auto, cpu or cuda[:N]")
    p.add_argument("--workers", type=int, help="analysis jobs run at once")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("pair", help="print the daemon URL, pairing token and short pairing code")
    p.add_argument("--json", action="store_true", help='print {"url", "token", "code"}')
    p.set_defaults(func=cmd_pair)

    p = sub.add_parser("doctor", help="report what is installed, the device, model files, and fixes")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("check", help="analyse a file or URL without the daemon")
    p.add_argument("target", help="media file path or http(s) URL")
    p.add_argument("--json", action="store_true", help="print the same JSON as the API result")
    p.add_argument("--explain", action="store_true", help="include per-face heatmaps (base64 PNG) in --json")
    p.add_argument("--no-provenance", action="store_true", help="skip the provenance lookup")
    p.add_argument("--device", help="auto, cpu or cuda[:N]")
    p.add_argument("--weights", type=Path, help="detector weights file or ensemble manifest (default: the shipped model)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("report", help="write a shareable HTML/PDF report of a file, a URL or a saved result")
    p.add_argument("target", help="media file, http(s) URL, or a .json result saved from `check --json --explain`")
    p.add_argument("--out", type=Path, help="HTML report to write (default: deepsentry-report-<hash>.html)")
    p.add_argument("--pdf", type=Path, help="also write the report as this PDF")
    p.add_argument("--no-provenance", action="store_true", help="skip the provenance lookup")
    p.add_argument("--device", help="auto, cpu or cuda[:N]")
    p.add_argument("--weights", type=Path, help="detector weights file or ensemble manifest (default: the shipped model)")
    p.set_defaults(func=cmd_report)


def _settings(args: argparse.Namespace):
    from deepsentry.settings import load_settings

    return load_settings(host=getattr(args, "host", None), port=getattr(args, "port", None),
                         device=getattr(args, "device", None), workers=getattr(args, "workers", None),
                         detector_weights=getattr(args, "weights", None))


def cmd_serve(args: argparse.Namespace) -> int:
    import logging

    from deepsentry.daemon.app import run
    from deepsentry.detector.memory import limit_arenas

    limit_arenas()           # a long-running process: fewer per-thread heaps, a lower resident peak
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

    def say(line: str) -> None:
        print(line, flush=True)

    try:
        run(_settings(args), print_fn=say)
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"deepsentry: cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_pair(args: argparse.Namespace) -> int:
    from deepsentry.daemon.auth import load_or_create_token, pairing_code

    from deepsentry.daemon.app import running_url

    settings = _settings(args)
    token = load_or_create_token(settings.token_path)
    live = running_url(settings)
    out = {"url": live or settings.url, "token": token, "code": pairing_code(token)}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"daemon URL:    {out['url']}" + ("" if live else "  (not running: start it with `deepsentry serve`)"))
        print(f"pairing token: {out['token']}")
        print(f"pairing code:  {out['code']}")
        print("Enter the code (or paste the token) in the deepsentry extension's options page.")
    return 0


# ------------------------------------------------------------------------------------------ doctor

_PACKAGES = [
    ("torch", "torch", "bash scripts/setup.sh (installs torch==2.14.1)"),
    ("torchvision", "torchvision", "bash scripts/setup.sh (installs torchvision==0.29.1)"),
    ("facenet_pytorch", "facenet-pytorch", "pip install --no-deps facenet-pytorch==2.5.3"),
    ("cv2", "opencv-python-headless", "pip install opencv-python-headless"),
    ("av", "av", "pip install av"),
    ("aiohttp", "aiohttp", "pip install aiohttp"),
    ("yt_dlp", "yt-dlp", "pip install yt-dlp"),
    ("imwatermark", "invisible-watermark", "pip install --no-deps invisible-watermark==0.2.0 PyWavelets onnxruntime"),
    ("c2pa", "c2pa-python", "pip install c2pa-python"),
    ("web3", "web3", "pip install web3"),
    ("dlib", "dlib-bin", "pip install dlib-bin face-recognition-models"),
]


def doctor_report() -> dict:
    import importlib
    import importlib.metadata as md

    from deepsentry import __version__
    from deepsentry.settings import load_settings

    checks = []

    def add(name, ok, detail, fix=None):
        checks.append({"name": name, "ok": bool(ok), "detail": detail, "fix": None if ok else fix})

    add("python", sys.version_info >= (3, 11), sys.version.split()[0], "use Python 3.11 or newer")
    for module, dist, fix in _PACKAGES:
        try:
            importlib.import_module(module)
            try:
                version = md.version(dist)
            except md.PackageNotFoundError:
                version = "installed"
            add(dist, True, version)
        except Exception as exc:  # noqa: BLE001 - report any import failure
            add(dist, False, f"not importable: {exc}", fix)
    try:
        import torch

        cuda = torch.cuda.is_available()
        add("device", True, f"cuda ({torch.cuda.get_device_name(0)})" if cuda else
            "cpu (no CUDA device visible; detection works, slower)")
    except Exception as exc:  # noqa: BLE001
        add("device", False, str(exc), "bash scripts/setup.sh")
    from deepsentry.errors import DeepsentryError

    try:
        from deepsentry.detector.mtcnn import weights_dir

        data = weights_dir()
        missing = [n for n in ("pnet.pt", "rnet.pt", "onet.pt") if not (data / n).exists()]
        add("mtcnn weights", not missing, str(data) if not missing else f"missing {missing}",
            "reinstall facenet-pytorch (the weights ship in its wheel)")
    except DeepsentryError as exc:
        add("mtcnn weights", False, exc.message, "pip install --no-deps facenet-pytorch==2.5.3")
    except ImportError:
        pass
    settings = load_settings()
    try:
        from deepsentry.detector.inference import load_scorer

        scorer = load_scorer(settings.detector_weights, device="cpu")
        add("detector weights", scorer is not None,
            f"{scorer.info().name} {scorer.info().version}" if scorer else "none installed",
            "train with `deepsentry train --data PATH` or reinstall the package (weights ship in "
            "deepsentry/detector/weights/)")
    except ModuleNotFoundError:
        add("detector weights", False, "detector model code missing", "reinstall deepsentry")
    except Exception as exc:  # noqa: BLE001
        add("detector weights", False, f"cannot load: {exc}", "check the weights file")
    add("ffmpeg", shutil.which("ffmpeg") is not None, shutil.which("ffmpeg") or "not on PATH",
        "apt-get install ffmpeg (used by tests and re-encoding tools; PyAV carries its own codecs)")
    repo = Path(__file__).resolve().parents[2]
    anvil = repo / "node_modules" / ".bin" / "anvil"
    add("anvil (embedded ledger node)", anvil.exists() or shutil.which("anvil") is not None,
        str(anvil) if anvil.exists() else (shutil.which("anvil") or "not found"),
        "npm ci (installs @foundry-rs/anvil), or set ledger_rpc_url to an external node")
    add("pairing token", settings.token_path.exists(), str(settings.token_path),
        "run `deepsentry pair` or `deepsentry serve` once")
    return {"version": __version__, "config_dir": str(settings.config_dir), "data_dir": str(settings.data_dir),
            "checks": checks, "ok": all(c["ok"] for c in checks)}


def cmd_doctor(args: argparse.Namespace) -> int:
    report = doctor_report()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"deepsentry {report['version']}  config: {report['config_dir']}  data: {report['data_dir']}")
        for c in report["checks"]:
            mark = "ok " if c["ok"] else "MISSING"
            print(f"  [{mark}] {c['name']}: {c['detail']}")
            if c["fix"]:
                print(f"           fix: {c['fix']}")
    return 0 if report["ok"] else 1


# ------------------------------------------------------------------------------------------ check

def _progress_bar():
    from tqdm import tqdm

    bar = tqdm(total=100, unit="%", file=sys.stderr, leave=False, disable=not sys.stderr.isatty(),
               bar_format="{desc:16} {bar} {percentage:3.0f}%")

    def update(fraction: float, stage: str) -> None:
        bar.set_description_str(stage)
        bar.n = int(fraction * 100)
        bar.refresh()

    return bar, update


def cmd_check(args: argparse.Namespace) -> int:
    from deepsentry.analysis import analyze_target

    bar, update = _progress_bar()
    try:
        result = analyze_target(_settings(args), args.target, explain=args.explain,
                                provenance=not args.no_provenance, progress=update)
    finally:
        bar.close()
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        print(format_summary(result))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Analyse the target with explain (frames and heatmaps), or read a saved result, and write the report."""
    from deepsentry.report import Report
    from deepsentry.report.wording import headline

    target, url = args.target, None
    if target.endswith(".json") and Path(target).is_file():
        from deepsentry import jsonio

        data = jsonio.loads(Path(target).read_bytes())
        result = data.get("result", data) if isinstance(data, dict) else data
    else:
        from deepsentry.analysis import analyze_target

        bar, update = _progress_bar()
        try:
            result = analyze_target(_settings(args), target, explain=True, provenance=not args.no_provenance,
                                    progress=update).to_json()
        finally:
            bar.close()
        url = target if "://" in target else None
    report = Report.from_json({"result": result, "media_url": url})
    out = args.out or Path(f"deepsentry-report-{report.sha256[:12]}.html")
    out.write_text(report.html(), encoding="utf-8")
    written = [str(out)]
    if args.pdf:
        args.pdf.write_bytes(report.pdf())
        written.append(str(args.pdf))
    word, sentence = headline(result)
    print(f"{word}: {sentence}.")
    print("report written to " + " and ".join(written))
    return 0


def format_summary(result: AnalysisResult) -> str:
    m, v = result.media, result.verdict
    lines = [f"{m.kind} {m.width}x{m.height}" + (f", {m.duration:.1f} s" if m.duration else "")
             + f", sha256 {m.sha256[:16]}…"]
    label = v.label.upper().replace("_", " ")
    if v.fake_prob is not None:
        lines.append(f"verdict: {label}  (fake probability {v.fake_prob:.2f}, threshold {v.threshold:.2f})")
    elif v.reason == "no_weights":
        lines.append("verdict: no score: no detector weights are installed (faces and tracks below are real)")
    else:
        lines.append(f"verdict: {label}")
    for f in result.faces:
        b = f.boxes[0]
        p = f"fake {f.fake_prob:.2f}" if f.fake_prob is not None else "not scored"
        lines.append(f"  face {f.track_id}: {len(f.boxes)} frames, first at t={b.t:.2f}s "
                     f"box ({b.x:.0f},{b.y:.0f},{b.w:.0f}x{b.h:.0f}), {p}")
    if result.model:
        lines.append(f"model: {result.model.name} {result.model.version}")
    if result.provenance:
        lines.append(f"provenance: {result.provenance.get('verdict')}")
    lines.append(f"time: {result.timings.get('total_s', 0):.2f} s")
    return "\n".join(lines)
