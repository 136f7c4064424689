"""Content sniffing: what a file *is*, from its first bytes, never from its name.

The table below is data (signature → media type), checked in order. It covers the image formats a
helpdesk keeps by default, plus common documents and executables so that an ``.exe`` renamed to
``.png`` is recognised as what it is.
"""

from __future__ import annotations

# (offset, signature, media type). Order matters only where signatures overlap.
SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"BM", "image/bmp"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (0, b"\x00\x00\x01\x00", "image/vnd.microsoft.icon"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"MZ", "application/vnd.microsoft.portable-executable"),
    (0, b"\x7fELF", "application/x-elf"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"PK\x05\x06", "application/zip"),
    (0, b"Rar!\x1a\x07", "application/vnd.rar"),
    (0, b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (0, b"\x1f\x8b", "application/gzip"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
    (0, b"{\\rtf", "application/rtf"),
    (0, b"#!", "text/x-script"),
)


def _sniff_riff(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _sniff_iso_bmff(data: bytes) -> str | None:
    # ISO base media file: 'ftyp' box at offset 4, brand at 8 (HEIC/AVIF photos from phones).
    if data[4:8] != b"ftyp":
        return None
    brand = data[8:12]
    if brand in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"):
        return "image/heic"
    if brand in (b"avif", b"avis"):
        return "image/avif"
    return "video/mp4"


def _sniff_svg(data: bytes) -> str | None:
    head = data[:512].lstrip().lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head):
        return "image/svg+xml"
    return None


def sniff(data: bytes) -> str | None:
    """Media type of ``data`` from its signature, or ``None`` when no signature matches."""
    for offset, signature, media_type in SIGNATURES:
        if data[offset : offset + len(signature)] == signature:
            return media_type
    for probe in (_sniff_riff, _sniff_iso_bmff, _sniff_svg):
        found = probe(data)
        if found:
            return found
    return None


#: Raster image types that are safe to keep: they carry no script (SVG does, so it is not here).
SAFE_IMAGE_TYPES: frozenset[str] = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/bmp",
        "image/tiff",
        "image/webp",
        "image/heic",
        "image/avif",
        "image/vnd.microsoft.icon",
    }
)
