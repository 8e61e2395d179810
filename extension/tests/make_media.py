"""Write the e2e test site's media into a directory (argument): real photos and real H.264 clips.

Run from the repository root: .venv/bin/python extension/tests/make_media.py OUT_DIR
Prints a JSON object with the true face boxes, so the test can compare against what it sees.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.mediautil import ASTRONAUT_FACE_BOX, astronaut, face_clip, scene  # noqa: E402


def main(out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    face = cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(out / "astronaut.jpg"), face, [cv2.IMWRITE_JPEG_QUALITY, 90])
    small = cv2.resize(face, (256, 256), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(out / "astronaut-small.png"), small)
    cv2.imwrite(str(out / "landscape.jpg"), cv2.cvtColor(scene(480, 320, seed=2), cv2.COLOR_RGB2BGR))
    icon = np.zeros((32, 32, 3), np.uint8)
    cv2.circle(icon, (16, 16), 12, (0, 140, 255), -1)
    cv2.imwrite(str(out / "icon.png"), icon)
    # A face-less image with a valid C2PA manifest (C2PA conformance sample, see tests/fixtures/c2pa/README.md)
    shutil.copy(Path(__file__).resolve().parents[2] / "tests/fixtures/c2pa/adobe-20220124-C.jpg", out / "signed.jpg")
    _, truth1 = face_clip(out / "face.mp4", seconds=2.0, fps=10, size=(480, 270), faces=1)
    _, truth2 = face_clip(out / "two-faces.mp4", seconds=2.0, fps=10, size=(720, 300), faces=2)
    return {
        "astronaut_face_box": ASTRONAUT_FACE_BOX,
        "face_mp4": {"fps": 10, "size": [480, 270], "boxes": truth1},
        "two_faces_mp4": {"fps": 10, "size": [720, 300], "boxes": truth2},
    }


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
