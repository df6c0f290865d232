"""Verified downloads with the standard library: mirrors, resume, sha256 and size checks.

``download_file(urls, dest, sha256=…, size=…)`` tries each mirror in order. Bytes go into
``dest.part``; an interrupted transfer resumes from where it stopped (HTTP Range), in this run or
the next. Only a file whose size and sha256 match is moved into place (``os.replace``), so
``dest`` is either absent or complete. Nothing downloaded is ever executed.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from facesmith.files import sha256_file
from facesmith_client.events import Progress

CHUNK = 1 << 16
DEFAULT_TIMEOUT_S = 30.0
RESUME_ATTEMPTS = 5  # reconnects per mirror while each attempt still makes progress
USER_AGENT = "facesmith-pack-fetch/1"
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")

Log = Callable[[str], None]
OnProgress = Callable[[Progress], None]


class DownloadError(Exception):
    """No mirror delivered a file with the expected size and sha256."""


class _Interrupted(Exception):
    """The transfer stopped early; what arrived is kept in the .part file."""


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def download_file(
    urls: Sequence[str],
    dest: Path,
    *,
    sha256: str | None,
    size: int | None,
    log: Log = print,
    progress: OnProgress | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> str:
    """Fetch ``dest`` from the first mirror that delivers the expected bytes → its sha256.

    ``sha256``/``size`` None means "not published": the file is then accepted as it comes
    (the caller decides whether that is allowed) and its computed sha256 is returned.
    Raises DownloadError naming every mirror and why it failed.
    """
    if not urls:
        raise DownloadError(f"{dest.name}: no download URL")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    failures: list[str] = []
    for index, url in enumerate(urls):
        if size is None:  # nothing to check a resumed file against: each mirror starts afresh
            part.unlink(missing_ok=True)
        try:
            _transfer(url, part, size, timeout, progress)
            digest = _check(part, sha256, size)
        except (
            _Interrupted,
            DownloadError,
            urllib.error.URLError,
            OSError,
            ValueError,
            http.client.HTTPException,
        ) as exc:
            reason = _reason(exc)
            failures.append(f"{url}: {reason}")
            more = "; trying the next mirror" if index + 1 < len(urls) else ""
            log(f"{dest.name}: mirror {url} failed ({reason}){more}")
            continue
        os.replace(part, dest)
        return digest
    raise DownloadError(
        f"{dest.name}: no mirror delivered a verified file:\n  " + "\n  ".join(failures)
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"cannot connect: {exc.reason}"
    return str(exc) or type(exc).__name__


def _check(part: Path, sha256: str | None, size: int | None) -> str:
    """The sha256 of a complete .part file; a wrong one is deleted and DownloadError raised."""
    actual_size = part.stat().st_size
    if size is not None and actual_size != size:
        part.unlink()
        raise DownloadError(f"got {actual_size} bytes, expected {size}")
    digest = sha256_file(part)
    if sha256 is not None and digest != sha256.lower():
        part.unlink()
        raise DownloadError(f"sha256 {digest} does not match the expected {sha256}")
    return digest


def _transfer(
    url: str, part: Path, size: int | None, timeout: float, progress: OnProgress | None
) -> None:
    """Fill ``part`` from ``url``, resuming after dropped connections while progress is made."""
    for _ in range(RESUME_ATTEMPTS):
        have = part.stat().st_size if part.exists() else 0
        if size is not None and have > size:
            part.unlink()  # not the file we expect: start again
            have = 0
        if size is not None and have == size:
            return  # complete from an earlier run; the caller verifies it
        try:
            _request(url, part, have, size, timeout, progress)
            return
        except _Interrupted:
            now = part.stat().st_size if part.exists() else 0
            if now <= have:
                raise
    raise _Interrupted(f"transfer kept stopping after {RESUME_ATTEMPTS} attempts")


def _request(
    url: str,
    part: Path,
    have: int,
    size: int | None,
    timeout: float,
    progress: OnProgress | None,
) -> None:
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"only http(s) URLs are fetched, not {url!r}")
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the .part is complete (verified next)
            exc.close()
            return
        raise
    with response:
        start = _resume_offset(response, have)
        total = _expected_total(response, start, size)
        mode = "ab" if start else "wb"
        done = start
        with part.open(mode) as out:
            try:
                while chunk := response.read(CHUNK):
                    done += len(chunk)
                    if size is not None and done > size:
                        raise DownloadError(f"the mirror sent more than the {size} bytes expected")
                    out.write(chunk)
                    if progress is not None:
                        progress(Progress("fetch", done, total))
            except (http.client.IncompleteRead, OSError) as exc:
                raise _Interrupted(f"connection dropped after {done} bytes ({exc})") from exc
        if total and done < total:
            raise _Interrupted(f"connection closed after {done} of {total} bytes")


def _resume_offset(response: http.client.HTTPResponse, have: int) -> int:
    """Where the body starts: ``have`` for a matching 206, else 0 (the server sent it all)."""
    if have and response.status == 206:
        match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if match and int(match.group(1)) == have:
            return have
        raise DownloadError("the server answered the resume request with a different range")
    return 0


def _expected_total(response: http.client.HTTPResponse, start: int, size: int | None) -> int:
    length = response.headers.get("Content-Length")
    if length is not None and length.isdigit():
        return start + int(length)
    return size or 0


MAX_MANIFEST_BYTES = 1 << 20


def fetch_json(urls: Sequence[str], *, log: Log = print, timeout: float = DEFAULT_TIMEOUT_S) -> Any:
    """The JSON document at the first mirror that serves one (at most 1 MiB; data, never code)."""
    failures = []
    for index, url in enumerate(urls):
        try:
            if not url.startswith(("https://", "http://")):
                raise ValueError(f"only http(s) URLs are fetched, not {url!r}")
            request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                body = response.read(MAX_MANIFEST_BYTES + 1)
            if len(body) > MAX_MANIFEST_BYTES:
                raise ValueError("larger than 1 MiB")
            return json.loads(body.decode("utf-8"))
        except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
            reason = _reason(exc)
            failures.append(f"{url}: {reason}")
            more = "; trying the next mirror" if index + 1 < len(urls) else ""
            log(f"mirror {url} failed ({reason}){more}")
    raise DownloadError("no mirror served the manifest:\n  " + "\n  ".join(failures))
