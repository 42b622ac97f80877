"""The browser demo's HTTP server (Python's ``http.server``, no extra
package): one page (``page.html``, plain HTML and JavaScript, the timeline
drawn as SVG) and a small JSON interface over :class:`.jobs.WebDemo`
(docs/en/web_demo.md).

=========================================  ================================
``GET /``                                  the page
``GET /api/choices``                       the files offered, per kind
``GET /api/limits``                        what the server takes (bytes)
``POST /api/upload?kind=K&name=N``         the body is the file: offered
``POST /api/jobs``                         JSON of :meth:`.WebDemo.submit`
``GET /api/jobs/<id>``                     :meth:`.DemoJob.status`
``GET /inputs/<key>``                      an offered video (the preview)
``GET /jobs/<id>/video.mp4``               the drawn video (byte ranges)
``GET /jobs/<id>/predictions.json``        the prediction, to download
=========================================  ================================

Every body is read by one reader after one check of its ``Content-Length``
(:meth:`_Handler._length`, :func:`.jobs.read_body`): none is 411, one that
is not a whole number 400, one over the limit (``--max-upload-mb``,
``--max-request-kb``) 413, each before anything is read or written. Every
refusal is a 4xx with a JSON ``{"error": message}``. The videos (an offered
one, a drawn one) are served in byte ranges, as a ``<video>`` seeks.
"""
import json
import mimetypes
import os
import os.path as osp
import re
import sys
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from typing import Optional, Tuple
from urllib.parse import parse_qs, quote, unquote, urlsplit

from .jobs import WebDemo, read_body, request_error

__all__ = [
    'make_server', 'PAGE', 'MAX_UPLOAD_MB', 'MAX_REQUEST_KB', 'READ_TIMEOUT',
    'MAX_LIMIT_BYTES', 'content_disposition'
]

#: the page the server gives at ``/``
PAGE = osp.join(osp.dirname(osp.abspath(__file__)), 'page.html')
#: largest upload taken by default (MiB; ``--max-upload-mb``)
MAX_UPLOAD_MB = 2048
#: largest JSON request taken by default (KiB; ``--max-request-kb``)
MAX_REQUEST_KB = 64
#: seconds a request may send nothing before it is refused (408)
READ_TIMEOUT = 60.0
_NUMBER = re.compile(r'[0-9]+')
_RANGE = re.compile(r'bytes=([0-9]*)-([0-9]*)')
_JOB_FILE = re.compile(r'/jobs/(\d+)/(video\.mp4|predictions\.json)$')
#: longest number taken in a header (more digits: larger than any limit)
_DIGITS = 18
#: the largest byte limit a server takes (``max_upload_bytes``,
#: ``max_request_bytes``): a ``Content-Length`` of more than
#: :data:`_DIGITS` digits is refused as over any limit
MAX_LIMIT_BYTES = 10**_DIGITS - 1
#: what a download's ASCII ``filename=`` keeps (the rest becomes ``_``): no
#: quote, backslash, ``%``, ``;`` or control character
_UNSAFE_IN_FILENAME = re.compile(r'[^A-Za-z0-9._()+ -]')


def content_disposition(name: str) -> str:
    """The ``Content-Disposition`` of a download named ``name`` (any
    characters): an ASCII ``filename=`` with the unsafe characters (a
    quote, a backslash, ``%``, ``;``, non-ASCII) replaced by ``_``, for the
    clients that read only it, and the name itself as RFC 5987 / 6266
    ``filename*=UTF-8''<percent-encoded>``. A header is Latin-1: a name
    sent as it is would break the answer (non-Latin-1) or the header (a
    quote).

    Args:
        name (str): The file's name.

    Returns:
        str: ``attachment; filename="..."; filename*=UTF-8''...``.
    """
    fallback = _UNSAFE_IN_FILENAME.sub('_', name).strip() or 'download'
    encoded = quote(name.encode('utf-8', 'surrogateescape'), safe='')
    return f'attachment; filename="{fallback}"; filename*=UTF-8\'\'{encoded}'


def _parse_json(data: bytes) -> dict:
    """A request's JSON object (no NaN / Infinity, no key twice).

    Args:
        data (bytes): The body.

    Returns:
        dict: The object.

    Raises:
        ValueError: Not JSON, or not an object.
    """

    def refuse(constant):
        raise ValueError(f'{constant} is not a JSON number')

    def pairs(items):
        keys = [k for k, _ in items]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise ValueError(f'{", ".join(twice)} given twice')
        return dict(items)

    try:
        request = json.loads(
            data or b'{}', parse_constant=refuse, object_pairs_hook=pairs)
    except (ValueError, RecursionError) as e:
        raise request_error(f'/api/jobs: the body is not JSON ({e})') from None
    if not isinstance(request, dict):
        raise request_error('/api/jobs: expected a JSON object, got '
                            f'{type(request).__name__}')
    return request


class _Handler(BaseHTTPRequestHandler):
    """The routes of the module's table; ``self.server.demo`` is the
    :class:`WebDemo`."""

    server_version = 'stmixer-web'
    #: a request line that is not HTTP/1.x gets a status line (0.9: none)
    default_request_version = 'HTTP/1.0'

    def setup(self):
        self.timeout = self.server.read_timeout
        super().setup()

    def log_message(self, fmt, *args):
        if self.server.verbose:
            super().log_message(fmt, *args)

    def _send(self, status, body: bytes, kind: str, headers=()) -> None:
        try:
            self.send_response(status)
            self.send_header('Content-Type', kind)
            self.send_header('Content-Length', str(len(body)))
            self.send_header('Cache-Control', 'no-store')
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            if self.command != 'HEAD':
                self.wfile.write(body)
        except OSError:  # the client has gone: nobody to answer
            self.close_connection = True

    def _json(self, document, status=HTTPStatus.OK, headers=()) -> None:
        self._send(status,
                   json.dumps(document).encode(), 'application/json', headers)

    def send_error(self, code, message=None, explain=None):
        """http.server's own refusals (a malformed request line or header,
        a method not served) as the routes' JSON; an unknown method is 405
        (http.server says 501)."""
        self.close_connection = True
        headers = []
        if code == HTTPStatus.NOT_IMPLEMENTED:
            code, headers = HTTPStatus.METHOD_NOT_ALLOWED, [
                ('Allow', 'GET, HEAD, POST')
            ]
            message = f'{self.command}: not served here; GET, HEAD or POST'
        self.log_error('code %d, message %s', code, message)
        self._json(
            dict(error=message or HTTPStatus(code).phrase), code, headers)

    def _answer(self, route) -> None:
        """Run ``route(url)``; a request error (:func:`request_error`: a
        ``ValueError`` with a ``status``) is answered with its status,
        anything else with 500 (and its traceback on stderr), each as JSON
        ``{"error": message}``."""
        try:
            route(urlsplit(self.path))
        except Exception as e:  # any: an answer, not a closed connection
            self.close_connection = True  # a body may be left unread
            if isinstance(e, ValueError) and hasattr(e, 'status'):
                self._json(dict(error=str(e)), e.status, e.headers)
                return
            traceback.print_exc(file=sys.stderr)
            self._json(
                dict(error=self._shown(e)), HTTPStatus.INTERNAL_SERVER_ERROR)

    def _shown(self, error: Exception) -> str:
        """What a 500 says of ``error`` (its traceback is on stderr): no
        server path: an OSError by its reason only, the work folder's path
        as ``<work dir>``."""
        text = (error.strerror or '') if isinstance(error, OSError) else ''
        text = f'{type(error).__name__}: {text or error}'
        work_dir = getattr(self.server.demo, 'work_dir', None)
        if work_dir:
            for shown in {work_dir, osp.abspath(work_dir)}:
                text = text.replace(shown, '<work dir>')
        return text

    def do_GET(self):
        self._answer(self._get)

    do_HEAD = do_GET

    def do_POST(self):
        self._answer(self._post)

    def _get(self, url) -> None:
        path = url.path
        demo: WebDemo = self.server.demo
        if path in ('/', '/index.html'):
            with open(PAGE, 'rb') as f:
                self._send(HTTPStatus.OK, f.read(), 'text/html; charset=utf-8')
        elif path == '/api/choices':
            self._json(demo.offered())
        elif path == '/api/limits':
            self._json(
                dict(
                    max_upload_bytes=self.server.max_upload_bytes,
                    max_name_chars=demo.max_name_chars,
                    max_request_bytes=self.server.max_request_bytes))
        elif path.startswith('/api/jobs/') and path[10:] in demo.jobs:
            self._json(demo.jobs[path[10:]].status())
        elif path.startswith('/inputs/') and (video := demo.video_path(
                unquote(path[8:]))):
            self._file(
                video,
                mimetypes.guess_type(video)[0] or 'application/octet-stream')
        elif (m := _JOB_FILE.match(path)) and m.group(1) in demo.jobs \
                and demo.jobs[m.group(1)].state == 'done':
            job = demo.jobs[m.group(1)]
            if m.group(2) == 'video.mp4':
                self._file(job.outputs['video'], 'video/mp4')
            else:
                name = osp.basename(job.outputs['json'])
                self._file(
                    job.outputs['json'], 'application/json',
                    [('Content-Disposition', content_disposition(name))])
        else:
            raise request_error(f'{path}: no such page', HTTPStatus.NOT_FOUND)

    def _range(self, size: int) -> Optional[Tuple[int, int]]:
        """The one byte range the request asks (as a ``<video>`` does to
        seek): None without a ``Range`` header, else ``(first, last)``
        within the file.

        Raises:
            ValueError: 416 (with ``Content-Range: bytes */<size>``): a
                range that is malformed (``bytes=-``, several ranges,
                another unit) or outside the file.
        """
        text = self.headers.get('Range')
        if text is None:
            return None
        m = _RANGE.fullmatch(text.strip())
        first, last = m.groups() if m else ('', '')
        if len(first) > _DIGITS or len(last) > _DIGITS:
            first, last = '', ''
        if first:  # first-[last]
            first, last = int(first), int(last) if last else size - 1
            wanted = (first, min(last, size - 1)) if first <= last else None
        else:  # the last N bytes
            wanted = (max(size - int(last), 0), size - 1) if last else None
        if wanted is None or wanted[0] >= size or wanted[0] > wanted[1]:
            raise request_error(
                f'Range: {text[:40]!r}: expected bytes=FIRST-LAST, FIRST- or '
                f'-LENGTH (one range) within the file\'s {size} bytes',
                HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
                [('Content-Range', f'bytes */{size}')])
        return wanted

    def _file(self, path: str, kind: str, headers=()) -> None:
        """A file, or the byte range the request asks."""
        size = os.path.getsize(path)
        wanted = self._range(size)
        first, last = wanted or (0, size - 1)
        headers = list(headers) + [('Accept-Ranges', 'bytes')]
        if wanted:
            headers.append(('Content-Range', f'bytes {first}-{last}/{size}'))
        with open(path, 'rb') as f:
            f.seek(first)
            body = f.read(last - first + 1)
        self._send(HTTPStatus.PARTIAL_CONTENT if wanted else HTTPStatus.OK,
                   body, kind, headers)

    def _length(self, limit: int, switch: str, what: str) -> int:
        """The request's ``Content-Length``, checked before any of its body
        is read (the one check of every body).

        Args:
            limit (int): Most bytes taken.
            switch (str): The option that sets ``limit``, for the message.
            what (str): The request, for the messages.

        Returns:
            int: The body's bytes (<= ``limit``).

        Raises:
            ValueError: 411: no ``Content-Length`` (or a chunked body);
                400: several, or one that is not a whole number >= 0;
                413: more than ``limit``.
        """
        given = self.headers.get_all('Content-Length') or []
        if self.headers.get('Transfer-Encoding') or not given:
            raise request_error(
                f'{what}: no Content-Length; a body must say its bytes '
                '(a chunked body is not taken)', HTTPStatus.LENGTH_REQUIRED)
        text = given[0].strip()
        if len(set(given)) > 1 or not _NUMBER.fullmatch(text):
            raise request_error(
                f'{what}: Content-Length {", ".join(given)[:40]!r}: expected '
                'one whole number of bytes >= 0')
        if len(text) > _DIGITS or int(text) > limit:
            raise request_error(
                f'{what}: a body of {text[:_DIGITS + 1]} bytes; this server '
                f'takes at most {limit} (start it with a larger {switch})',
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        return int(text)

    def _query(self, url, names) -> dict:
        """The query's parameters ``names`` (each once; no other)."""
        query = parse_qs(url.query, keep_blank_values=True)
        unknown = sorted(set(query) - set(names))
        twice = sorted(k for k, v in query.items() if len(v) > 1)
        if unknown or twice:
            wrong = (f'unknown parameter {", ".join(unknown)}'
                     if unknown else f'given twice: {", ".join(twice)}')
            takes = f'{", ".join(names)}, each once' if names else 'none'
            raise request_error(f'{url.path}: {wrong}; it takes {takes}')
        return {k: v[0] for k, v in query.items()}

    def _post(self, url) -> None:
        demo: WebDemo = self.server.demo
        server = self.server
        if url.path == '/api/upload':
            query = self._query(url, ('kind', 'name'))
            length = self._length(server.max_upload_bytes, '--max-upload-mb',
                                  'upload')
            choice = demo.upload(
                query.get('kind', ''), query.get('name', 'upload'), self.rfile,
                length)
            self._json(dict(key=choice.key, label=choice.label))
        elif url.path == '/api/jobs':
            self._query(url, ())
            length = self._length(server.max_request_bytes, '--max-request-kb',
                                  '/api/jobs')
            body = BytesIO()
            read_body(self.rfile, length, body, '/api/jobs')
            self._json(demo.submit(_parse_json(body.getvalue())).status())
        else:
            raise request_error(f'{url.path}: nothing to post to',
                                HTTPStatus.NOT_FOUND)


def make_server(demo: WebDemo,
                host: str = '127.0.0.1',
                port: int = 8000,
                verbose: bool = False,
                max_upload_bytes: int = MAX_UPLOAD_MB << 20,
                max_request_bytes: int = MAX_REQUEST_KB << 10,
                read_timeout: float = READ_TIMEOUT) -> ThreadingHTTPServer:
    """The demo's HTTP server, bound (call ``serve_forever``).

    Args:
        demo (WebDemo): The files and jobs it serves.
        host (str): Address to listen on. Defaults to ``'127.0.0.1'``
            (this machine only).
        port (int): Port; 0 picks a free one. Defaults to 8000.
        verbose (bool): Log each request to stderr. Defaults to False.
        max_upload_bytes (int): Largest upload taken (413 above). Defaults
            to 2 GiB (:data:`MAX_UPLOAD_MB`).
        max_request_bytes (int): Largest JSON request taken (413 above).
            Defaults to 64 KiB (:data:`MAX_REQUEST_KB`).
        read_timeout (float): Seconds a request may send nothing before it
            is refused (408; an upload's part removed). Defaults to 60.

    Returns:
        ThreadingHTTPServer: With ``demo``, ``verbose``, the limits and
        ``url`` (``http://host:port/``, the port it got) set.

    Raises:
        ValueError: A limit that is not a number > 0 (a whole one for
            the bytes), or a byte limit over :data:`MAX_LIMIT_BYTES`.
        OSError: The address cannot be bound (e.g. the port is taken).
    """
    limits = [
        ('max_upload_bytes', max_upload_bytes, int, 'a whole number >= 1'),
        ('max_request_bytes', max_request_bytes, int, 'a whole number >= 1'),
        ('read_timeout', read_timeout, (int, float), 'a number > 0')
    ]
    for name, value, types, expected in limits:
        if isinstance(value, bool) or not isinstance(value, types) \
                or not value > 0:
            raise ValueError(
                f'make_server: {name} must be {expected}, got {value!r}')
        if types is int and value > MAX_LIMIT_BYTES:
            raise ValueError(f'make_server: {name} is too large (at most '
                             f'{MAX_LIMIT_BYTES}), got {value!r}')
    server = ThreadingHTTPServer((host, port), _Handler)
    server.daemon_threads = True
    server.demo, server.verbose = demo, verbose
    server.max_upload_bytes = max_upload_bytes
    server.max_request_bytes = max_request_bytes
    server.read_timeout = read_timeout
    shown = 'localhost' if host in ('', '0.0.0.0', '::') else host
    server.url = f'http://{shown}:{server.server_address[1]}/'
    return server
