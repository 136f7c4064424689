"""Content sniffing: what a file *is*, from its first bytes, never from its name.

The table below is data (signature → media type), checked in order, followed by a few probes for
formats whose signature is not a fixed prefix (BMP, RIFF, ISO media, SVG/HTML markup). It covers
the image formats a helpdesk keeps by default, plus common documents, archives and executables so
that an ``.exe`` renamed to ``.png`` is recognised as what it is. File names and declared types
are chosen by the sender, so only the bytes decide; ``None`` means "no known signature" (plain
text, CSV, unknown binaries), never "safe".
"""

from __future__ import annotations

# (offset, signature, media type). Order matters only where signatures overlap.
SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
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
    (0, b"\xca\xfe\xba\xbe", "application/x-mach-binary"),
    (0, b"\xcf\xfa\xed\xfe", "application/x-mach-binary"),
    (0, b"\xce\xfa\xed\xfe", "application/x-mach-binary"),
    (0, b"MSCF", "application/vnd.ms-cab-compressed"),
    (0, b"\xfd7zXZ\x00", "application/x-xz"),
    (0, b"BZh", "application/x-bzip2"),
    (0, b"%!PS", "application/postscript"),
    (0, b"8BPS", "image/vnd.adobe.photoshop"),
    (0, b"OggS", "audio/ogg"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"fLaC", "audio/flac"),
    (0, b"\x1aE\xdf\xa3", "video/webm"),
    (0, b"wOFF", "font/woff"),
    (0, b"wOF2", "font/woff2"),
    (0, b"BEGIN:VCALENDAR", "text/calendar"),
    (0, b"BEGIN:VCARD", "text/vcard"),
    (0, b'x\x9f>"', "application/vnd.ms-tnef"),
    (257, b"ustar", "application/x-tar"),
)


def _sniff_bmp(data: bytes) -> str | None:
    # "BM" alone is too short a signature ("BMW report.txt"): check the DIB header size too.
    if data[:2] == b"BM" and data[14:18] in (
        b"\x0c\x00\x00\x00",
        b"\x28\x00\x00\x00",
        b"\x34\x00\x00\x00",
        b"\x38\x00\x00\x00",
        b"\x40\x00\x00\x00",
        b"\x6c\x00\x00\x00",
        b"\x7c\x00\x00\x00",
    ):
        return "image/bmp"
    return None


def _sniff_riff(data: bytes) -> str | None:
    if data[:4] != b"RIFF":
        return None
    return {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}.get(data[8:12])


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


def _sniff_markup(data: bytes) -> str | None:
    # SVG and HTML carry script: recognise them even behind a BOM, an XML declaration, comments.
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if not head.startswith(b"<"):
        return None
    if head.startswith(b"<svg") or (
        b"<svg" in head[:4096] and head.startswith((b"<?xml", b"<!--", b"<!doctype svg"))
    ):
        return "image/svg+xml"
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or (
        head.startswith((b"<!--", b"<?xml")) and b"<html" in head
    ):
        return "text/html"
    return None


def sniff(data: bytes) -> str | None:
    """Media type of ``data`` from its signature, or ``None`` when no signature matches."""
    for offset, signature, media_type in SIGNATURES:
        if data[offset : offset + len(signature)] == signature:
            return media_type
    for probe in (_sniff_bmp, _sniff_riff, _sniff_iso_bmff, _sniff_markup):
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
