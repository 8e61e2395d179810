"""Face swap: only the chosen face track changes, the face follows the target's geometry, landmarks are
smooth. Frames are compared before watermarking/encoding (the watermark touches every pixel a little; the
end-to-end test covers the encoded, marked output)."""

from __future__ import annotations

import numpy as np
import pytest

from deepsentry.generator import landmarks as lm
from deepsentry.generator import video
from deepsentry.generator.swap import prepare_source, swap_frame
from deepsentry.generator.tracking import follow
from tests.generator.media import other_person


def _region_masks(shape, truth_boxes, grow=0.25):
    """Boolean masks of each true face box, enlarged by ``grow`` of its size on every side."""
    H, W = shape[:2]
    masks = []
    for x, y, w, h in truth_boxes:
        m = np.zeros((H, W), bool)
        x1, y1 = int(max(0, x - grow * w)), int(max(0, y - grow * h))
        x2, y2 = int(min(W, x + w * (1 + grow))), int(min(H, y + h * (1 + grow)))
        m[y1:y2, x1:x2] = True
        masks.append(m)
    return masks


@pytest.fixture(scope="module")
def clip_frames(two_face_clip):
    path, truth = two_face_clip
    return list(video.frames(path)), truth


@pytest.fixture(scope="module")
def source():
    img = other_person()
    return prepare_source(img, lm.main_face(img).points)


@pytest.mark.parametrize("how", ["index1", "point0"])
def test_swap_changes_only_the_chosen_track(how, clip_frames, source):
    frames, truth = clip_frames
    chosen = 1 if how == "index1" else 0
    if how == "index1":
        tr = follow(frames, track=1)
    else:
        x, y, w, h = truth[0][0]
        tr = follow(frames, point=(x + w / 2, y + h / 2))
    assert tr.valid.all(), "the chosen face is followed in every frame"
    other = 1 - chosen
    for i in range(0, len(frames), 4):
        out = swap_frame(frames[i], source, tr.points[i])
        diff = np.abs(out.astype(np.int16) - frames[i].astype(np.int16)).max(axis=2)
        regions = _region_masks(frames[i].shape, truth[i])
        # the chosen face changed substantially
        cx, cy, cw, ch = truth[i][chosen]
        core = np.zeros_like(regions[0])
        core[int(cy + 0.3 * ch):int(cy + 0.8 * ch), int(cx + 0.25 * cw):int(cx + 0.75 * cw)] = True
        assert diff[core].mean() > 12, f"frame {i}: chosen face barely changed ({diff[core].mean():.1f})"
        # everything outside the chosen face's region is untouched, the other face included
        outside = ~regions[chosen]
        assert diff[outside].max() == 0, f"frame {i}: pixels outside the chosen face changed"
        assert diff[regions[other] & outside].max() == 0


def test_default_track_is_largest_and_bad_index_refused(clip_frames):
    from deepsentry.errors import BadRequest

    frames, _ = clip_frames
    with pytest.raises(BadRequest) as ei:
        follow(frames[:3], track=5)
    assert ei.value.code == "bad_track"
    tr = follow(frames[:3])
    assert tr.faces_in_first == 2


def test_swapped_face_keeps_target_geometry_and_is_smooth(clip_frames, source):
    """Landmarks found on the swapped frames sit where the target's were (pose/expression kept), and
    the smoothed track jitters less than the raw detections."""
    frames, truth = clip_frames
    tr = follow(frames, track=0)
    errs = []
    for i in range(0, len(frames), 5):
        out = swap_frame(frames[i], source, tr.points[i])
        faces = lm.detect_faces(out)
        assert faces, f"no face on swapped frame {i}"
        f = min(faces, key=lambda f: np.hypot(*(np.array(f.center) - tr.points[i].mean(0))))
        iod = np.linalg.norm(tr.points[i][36:42].mean(0) - tr.points[i][42:48].mean(0))
        errs.append(np.linalg.norm(f.points - tr.points[i], axis=1).mean() / iod)
    assert np.mean(errs) < 0.12, errs
    raw_jitter = np.abs(np.diff(tr.raw, 2, axis=0)).mean()
    smooth_jitter = np.abs(np.diff(tr.points, 2, axis=0)).mean()
    assert smooth_jitter < raw_jitter
