"""The browser demo's HTTP server (Python's ``http.server``, no extra
package): one page (``page.html``, plain HTML and JavaScript, the timeline
drawn as SVG) and a small JSON interface over :class:`.jobs.WebDemo`
(docs/en/web_demo.md).

=========================================  ================================
``GET /``                                  the page
``GET /api/choices``                       the files offered, per kind
``POST /api/upload?kind=K&name=N``         the body is the file: offered
``POST /api/jobs``                         JSON of :meth:`.WebDemo.submit`
``GET /api/jobs/<id>``                     :meth:`.DemoJob.status`
``GET /jobs/<id>/video.mp4``               the drawn video (byte ranges)
``GET /jobs/<id>/predictions.json``        the prediction, to download
=========================================  ================================
"""
import json
import os
import os.path as osp
import re
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .jobs import RequestError, WebDemo

__all__ = ['make_server', 'PAGE']

#: the page the server gives at ``/``
PAGE = osp.join(osp.dirname(osp.abspath(__file__)), 'page.html')
_RANGE = re.compile(r'bytes=(\d*)-(\d*)$')
_JOB_FILE = re.compile(r'/jobs/(\d+)/(video\.mp4|predictions\.json)$')


class _Handler(BaseHTTPRequestHandler):
    """The routes of the module's table; ``self.server.demo`` is the
    :class:`WebDemo`."""

    server_version = 'stmixer-web'

    def log_message(self, fmt, *args):
        if self.server.verbose:
            super().log_message(fmt, *args)

    def _send(self, status, body: bytes, kind: str, headers=()) -> None:
        self.send_response(status)
        self.send_header('Content-Type', kind)
        self.send_header('Content-Length', str(len(body)))
        self.send_header('Cache-Control', 'no-store')
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)

    def _json(self, document, status=HTTPStatus.OK) -> None:
        self._send(status, json.dumps(document).encode(), 'application/json')

    def _error(self, status, message: str) -> None:
        self._json(dict(error=message), status)

    def do_GET(self):
        path = urlsplit(self.path).path
        demo: WebDemo = self.server.demo
        if path in ('/', '/index.html'):
            with open(PAGE, 'rb') as f:
                self._send(HTTPStatus.OK, f.read(), 'text/html; charset=utf-8')
        elif path == '/api/choices':
            self._json(demo.offered())
        elif path.startswith('/api/jobs/') and path[10:] in demo.jobs:
            self._json(demo.jobs[path[10:]].status())
        elif (m := _JOB_FILE.match(path)) and m.group(1) in demo.jobs \
                and demo.jobs[m.group(1)].state == 'done':
            job = demo.jobs[m.group(1)]
            if m.group(2) == 'video.mp4':
                self._file(job.outputs['vis'], 'video/mp4')
            else:
                name = osp.basename(job.outputs['pred'])
                self._file(job.outputs['pred'], 'application/json', [
                    ('Content-Disposition', f'attachment; filename="{name}"')
                ])
        else:
            self._error(HTTPStatus.NOT_FOUND, f'{path}: no such page')

    do_HEAD = do_GET

    def _file(self, path: str, kind: str, headers=()) -> None:
        """A file, or the byte range the request asks (as a ``<video>``
        does to seek)."""
        size = os.path.getsize(path)
        first, last = 0, size - 1
        wanted = _RANGE.match(self.headers.get('Range', '').strip())
        if wanted and (wanted.group(1) or wanted.group(2)):
            if wanted.group(1):
                first = int(wanted.group(1))
                last = min(int(wanted.group(2) or last), last)
            else:  # the last N bytes
                first = max(size - int(wanted.group(2)), 0)
            if first > last:
                self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                self.send_header('Content-Range', f'bytes */{size}')
                self.send_header('Content-Length', '0')
                self.end_headers()
                return
            headers = list(headers) + [
                ('Content-Range', f'bytes {first}-{last}/{size}')
            ]
        with open(path, 'rb') as f:
            f.seek(first)
            body = f.read(last - first + 1)
        self._send(HTTPStatus.PARTIAL_CONTENT if wanted else HTTPStatus.OK,
                   body, kind,
                   list(headers) + [('Accept-Ranges', 'bytes')])

    def do_POST(self):
        url = urlsplit(self.path)
        demo: WebDemo = self.server.demo
        try:
            length = int(self.headers.get('Content-Length', ''))
        except ValueError:
            self._error(HTTPStatus.LENGTH_REQUIRED,
                        'a request body needs its Content-Length')
            return
        try:
            if url.path == '/api/upload':
                query = parse_qs(url.query)
                choice = demo.upload(
                    query.get('kind', [''])[0],
                    query.get('name', ['upload'])[0], self.rfile, length)
                self._json(dict(key=choice.key, label=choice.label))
            elif url.path == '/api/jobs':
                try:
                    request = json.loads(self.rfile.read(length) or b'{}')
                except ValueError as e:
                    raise RequestError(f'/api/jobs: the body is not JSON '
                                       f'({e})') from None
                if not isinstance(request, dict):
                    raise RequestError('/api/jobs: expected a JSON object')
                self._json(demo.submit(request).status())
            else:
                self._error(HTTPStatus.NOT_FOUND,
                            f'{url.path}: nothing to post to')
        except RequestError as e:
            self._error(HTTPStatus.BAD_REQUEST, str(e))


def make_server(demo: WebDemo,
                host: str = '127.0.0.1',
                port: int = 8000,
                verbose: bool = False) -> ThreadingHTTPServer:
    """The demo's HTTP server, bound (call ``serve_forever``).

    Args:
        demo (WebDemo): The files and jobs it serves.
        host (str): Address to listen on. Defaults to ``'127.0.0.1'``
            (this machine only).
        port (int): Port; 0 picks a free one. Defaults to 8000.
        verbose (bool): Log each request to stderr. Defaults to False.

    Returns:
        ThreadingHTTPServer: With ``demo``, ``verbose`` and ``url``
        (``http://host:port/``, the port it got) set.

    Raises:
        OSError: The address cannot be bound (e.g. the port is taken).
    """
    server = ThreadingHTTPServer((host, port), _Handler)
    server.daemon_threads = True
    server.demo, server.verbose = demo, verbose
    shown = 'localhost' if host in ('', '0.0.0.0', '::') else host
    server.url = f'http://{shown}:{server.server_address[1]}/'
    return server
