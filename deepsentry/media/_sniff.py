"""Recognise a file type from its first bytes, before any parser is trusted with it.

Only the types listed here are ever handed to Pillow or FFmpeg, and each one only to the parser for its
own format; anything else is ``unsupported_media``. Recognising by magic bytes (never by file name or a
Content-Type) keeps FFmpeg's and Pillow's format guessing away from random bytes.
"""

from __future__ import annotations

import struct

HEAD_BYTES = 4096

# image format -> Pillow format name
PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG", "gif": "GIF", "webp": "WEBP", "bmp": "BMP"}
# video format -> FFmpeg demuxer name
DEMUXERS = {"mp4": "mov", "mov": "mov", "webm": "matroska", "mkv": "matroska", "avi": "avi",
            "flv": "flv", "mpegts": "mpegts"}

# File names of what we *write* (and of inputs named before their bytes exist): suffix -> (kind, MIME).
# What a file *is* always comes from its bytes (``sniff``); this table is only for names.
SUFFIXES = {".jpg": ("image", "image/jpeg"), ".jpeg": ("image", "image/jpeg"), ".png": ("image", "image/png"),
            ".webp": ("image", "image/webp"), ".gif": ("image", "image/gif"), ".bmp": ("image", "image/bmp"),
            ".mp4": ("video", "video/mp4"), ".m4v": ("video", "video/mp4"), ".mov": ("video", "video/quicktime"),
            ".webm": ("video", "video/webm"), ".mkv": ("video", "video/x-matroska"),
            ".avi": ("video", "video/x-msvideo"), ".flv": ("video", "video/x-flv"), ".ts": ("video", "video/mp2t")}


def kind_from_name(name) -> str | None:
    """"image", "video" or None for a file name's suffix (``SUFFIXES``)."""
    from pathlib import Path

    entry = SUFFIXES.get(Path(name).suffix.lower())
    return entry[0] if entry else None


# ISO-BMFF major brands that are still images (HEIF/AVIF), not video; we have no decoder for them.
_STILL_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}
_MOV_FIRST_BOXES = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


def sniff(head: bytes) -> tuple[str, str] | None:
    """Return ``(kind, format)`` for the leading bytes of a file, or ``None`` when not a supported type."""
    if len(head) < 8:
        return None
    if head[:3] == b"\xff\xd8\xff":
        return "image", "jpeg"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "image", "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image", "gif"
    if head[:4] == b"RIFF" and len(head) >= 12:
        if head[8:12] == b"WEBP":
            return "image", "webp"
        if head[8:12] == b"AVI ":
            return "video", "avi"
        return None
    if head[:2] == b"BM" and len(head) >= 26 and struct.unpack("<I", head[14:18])[0] in (12, 40, 52, 56, 64, 108, 124):
        return "image", "bmp"
    if head[4:8] == b"ftyp" and len(head) >= 12:
        brand = head[8:12]
        if brand in _STILL_BRANDS:
            return None
        return "video", ("mov" if brand == b"qt  " else "mp4")
    if head[4:8] in _MOV_FIRST_BOXES and struct.unpack(">I", head[:4])[0] not in range(2, 8):
        return "video", "mov"      # QuickTime files from before ftyp; box size 0/1 mean to-EOF/64-bit
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "video", ("webm" if b"webm" in head[:64] else "mkv")
    if head[:3] == b"FLV" and head[3] == 1:
        return "video", "flv"
    if len(head) > 376 and head[0] == 0x47 and head[188] == 0x47 and head[376] == 0x47:
        return "video", "mpegts"
    return None
