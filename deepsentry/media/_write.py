"""The one video writer: H.264 (yuv420p, even frame size) in MP4/MOV through PyAV.

Used by the generator (its frames, the target's audio re-encoded to AAC) and by the watermark
(re-encoding a clip frame by frame, its audio packets copied as they are).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from deepsentry.errors import MediaDecodeError


class H264Writer:
    """``write`` RGB frames (cropped to even size), ``mux_audio`` copied packets, ``close`` to finish.

    ``audio_template``: an input audio stream whose packets will be copied (``mux_audio``). The file is
    complete only after ``close()``; on an error the caller removes it."""

    def __init__(self, path: str | Path, width: int, height: int, rate, *, crf: int, preset: str = "veryfast",
                 threads: int | None = None, audio_template=None, aac_from: str | Path | None = None,
                 container_format: str | None = None) -> None:
        import av

        self.path = Path(path)
        self.width, self.height = width - width % 2, height - height % 2
        self.out = av.open(str(self.path), "w", format=container_format)
        self.video = self.out.add_stream("libx264", rate=Fraction(rate).limit_denominator(1001))
        self.video.width, self.video.height = self.width, self.height
        self.video.pix_fmt = "yuv420p"
        self.video.options = {"crf": str(int(crf)), "preset": preset,
                              **({"threads": str(threads)} if threads else {})}
        self.audio = self.out.add_stream_from_template(audio_template) if audio_template is not None else None
        self._aac = None
        if aac_from is not None:                  # every stream is added before the first frame is muxed
            inp = av.open(str(aac_from))
            if inp.streams.audio:
                a_in = inp.streams.audio[0]
                rate_a = a_in.codec_context.sample_rate or 48000
                layout = a_in.codec_context.layout.name if a_in.codec_context.layout else "stereo"
                a_out = self.out.add_stream("aac", rate=rate_a)
                a_out.layout = layout
                self._aac = (inp, a_in, a_out, av.AudioResampler(format="fltp", layout=layout, rate=rate_a))
            else:
                inp.close()
        self.frames = 0

    def write(self, rgb: np.ndarray, pts: int | None = None, time_base=None) -> None:
        import av

        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[:self.height, :self.width]), format="rgb24")
        if pts is not None:
            frame.pts, frame.time_base = pts, time_base
        self.out.mux(self.video.encode(frame))
        self.frames += 1

    def mux_audio(self, packet) -> None:
        packet.stream = self.audio
        self.out.mux(packet)

    def finish_audio(self, seconds: float) -> None:
        """Write the ``aac_from`` audio, re-encoded to AAC and cut at ``seconds`` (the video's length)."""
        if self._aac is None:
            return
        inp, a_in, a_out, resampler = self._aac
        for frame in inp.decode(a_in):
            if frame.time is not None and frame.time >= seconds:
                break
            frame.pts = None
            for rf in resampler.resample(frame):
                self.out.mux(a_out.encode(rf))
        for rf in resampler.resample(None):
            self.out.mux(a_out.encode(rf))
        self.out.mux(a_out.encode(None))

    def flush_video(self) -> None:
        self.out.mux(self.video.encode())

    def close(self) -> None:
        try:
            self.out.close()
        finally:
            if self._aac is not None:
                self._aac[0].close()
                self._aac = None


def write_h264(path: str | Path, rgb_frames, fps, *, crf: int, audio_from: str | Path | None = None,
               preset: str = "veryfast") -> int:
    """Encode frames to an MP4 at ``path``; with ``audio_from``, its audio re-encoded to AAC alongside.
    Returns the number of frames written."""
    it = iter(rgb_frames)
    first = next(it, None)
    if first is None:
        raise MediaDecodeError("no frames to encode")
    h, w = first.shape[:2]
    writer = H264Writer(path, w, h, fps, crf=crf, preset=preset, aac_from=audio_from, container_format="mp4")
    try:
        writer.write(first)
        for img in it:
            writer.write(img)
        writer.flush_video()
        writer.finish_audio(seconds=writer.frames / float(fps))
    finally:
        writer.close()
    return writer.frames
