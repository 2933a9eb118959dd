"""What a received file really is, read from its first bytes (its "magic number").

A channel takes a file as a picture or a PDF by what the sender's app declares (the name's
extension, a MIME type); an executable or a zip renamed "bien-ban.png" declares the same. The
runner keeps an uploaded file only when its content starts as one of the kinds below. No
library in the lock reads file signatures, and these few need no more than a table.
"""

from __future__ import annotations

# (offset, bytes) -> kind; a kind is known when its bytes stand at that offset.
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "png"),
    (0, b"GIF87a", "gif"),
    (0, b"GIF89a", "gif"),
    (0, b"II*\x00", "tiff"),
    (0, b"MM\x00*", "tiff"),
    (0, b"BM", "bmp"),
)
# ISO base media files (a phone's HEIC photo, AVIF): "ftyp" at 4, then the major brand.
_PICTURE_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"})
_PDF_WITHIN = 1024  # readers accept a few bytes (a BOM, blank lines) before "%PDF-"


def picture_or_pdf(content: bytes) -> str | None:
    """The kind of picture ("jpeg", "png", "webp", "heif", ...) or "pdf" the content is; None
    when it is neither, whatever its name says."""
    for offset, magic, kind in _SIGNATURES:
        if content.startswith(magic, offset):
            return kind
    if content.startswith(b"RIFF") and content.startswith(b"WEBP", 8):
        return "webp"
    if content.startswith(b"ftyp", 4) and content[8:12] in _PICTURE_BRANDS:
        return "heif"
    if content[:_PDF_WITHIN].lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"%PDF-"):
        return "pdf"
    return None


def mime_of(kind: str) -> str:
    """The media type of a kind `picture_or_pdf` found (what its bytes are, not what its name says)."""
    return "application/pdf" if kind == "pdf" else f"image/{kind}"
