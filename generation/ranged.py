"""Byte-range file responses: browsers seek and frame-step in a video through Range
requests, and Safari refuses to play media served without them."""

from __future__ import annotations

import re

from django.core.files import File
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK = 64 * 1024


def _chunks(fh: File, start: int, length: int):
    fh.seek(start)
    remaining = length
    try:
        while remaining > 0:
            data = fh.read(min(CHUNK, remaining))
            if not data:
                break
            remaining -= len(data)
            yield data
    finally:
        fh.close()


def ranged_file_response(
    request: HttpRequest, fh: File, *, size: int, content_type: str, filename: str, download: bool
) -> HttpResponseBase:
    """The whole file, or the one byte range asked for (206), or 416 for a bad range."""
    disposition = "attachment" if download else "inline"
    header = request.headers.get("Range", "")
    match = RANGE.match(header.strip()) if header else None
    if not match or (not match.group(1) and not match.group(2)):
        whole = FileResponse(
            fh, as_attachment=download, filename=filename, content_type=content_type
        )
        whole["Accept-Ranges"] = "bytes"
        return whole
    first, last = match.groups()
    if first:
        start, end = int(first), min(int(last) if last else size - 1, size - 1)
    else:  # "bytes=-N": the last N bytes
        start, end = max(size - int(last), 0), size - 1
    if start >= size or start > end:
        fh.close()
        refused = HttpResponse(status=416)
        refused["Content-Range"] = f"bytes */{size}"
        return refused
    length = end - start + 1
    response = StreamingHttpResponse(
        _chunks(fh, start, length), status=206, content_type=content_type
    )
    response["Content-Length"] = str(length)
    response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    return response
