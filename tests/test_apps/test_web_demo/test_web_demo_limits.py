"""Issue 83: what the browser demo's server (``stmixer-web``) takes. The
server is started as the command line builds it (port 0, small limits:
``--max-upload-mb 1 --max-request-kb 1 --max-name-length 40``) and hit over
raw sockets, so that lengths http.client would not send (negative, missing,
larger than the body) reach it. Every request has a socket timeout: a
server that hangs fails the test instead of blocking it. No model runs."""
import json
import os
import socket
import threading
import time

import pytest

from stmixer_mm.apps.cli.web import build_server, parse_args
from stmixer_mm.apps.web_demo import DemoJob
from stmixer_mm.testing import http_exchange

#: seconds a test waits for an answer before it fails
WAIT = 10


@pytest.fixture
def server(tmp_path):
    srv = build_server(
        parse_args([
            '--port', '0', '--work-dir',
            str(tmp_path / 'work'), '--max-upload-mb', '1', '--max-request-kb',
            '1', '--max-name-length', '40'
        ]))
    srv.read_timeout = 1.0  # a stalled upload is refused after 1 s
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    assert srv.demo.close(WAIT)


def _ask(srv, head: str, body: bytes = b'', end_body=False):
    """:func:`stmixer_mm.testing.http_exchange` with this server."""
    return http_exchange(
        srv.server_address, head, body, end_body, timeout=WAIT)


def _post(srv, path, length=None, body=b'', end_body=False, more=''):
    head = f'POST {path} HTTP/1.1\r\nHost: x'
    if length is not None:
        head += f'\r\nContent-Length: {length}'
    return _ask(srv, head + more, body, end_body)


def _uploads(srv):
    return os.listdir(srv.demo.uploads)


UPLOAD = '/api/upload?kind=video&name=v.mp4'


@pytest.mark.parametrize('path', [UPLOAD, '/api/jobs'])
def test_a_missing_negative_or_non_numeric_length_is_refused(server, path):
    """Before: ``Content-Length: -1`` offered an empty video, and made
    ``POST /api/jobs`` wait for the client to close. After: 411 without a
    length (or with a chunked body), 400 for one that is not a whole
    number, at once, nothing written."""
    what = 'upload' if path == UPLOAD else '/api/jobs'
    for length, more, status, message in [
        (None, '', 411, f'{what}: no Content-Length;'),
        (None, '\r\nTransfer-Encoding: chunked', 411,
         f'{what}: no Content-Length;'),
        ('-1', '', 400, f"{what}: Content-Length '-1': expected one whole"),
        ('abc', '', 400, f"{what}: Content-Length 'abc': expected one"),
        ('+5', '', 400, f"{what}: Content-Length '+5': expected one"),
        ('5', '\r\nContent-Length: 6', 400,
         f"{what}: Content-Length '5, 6': expected one whole number"),
    ]:
        status_, headers, body = _post(server, path, length, more=more)
        assert (status_, headers['Content-Type']) == \
            (status, 'application/json'), (length, more, body)
        assert body['error'].startswith(message), body
    assert _uploads(server) == [] and server.demo.jobs == {}
    assert [c['label'] for c in server.demo.offered()['video']] == \
        ['synthetic demo video (8 s, 3 persons)']


def test_a_body_over_the_limit_is_refused_before_it_is_read(server):
    """Before: a declared 3 GB upload was streamed to disk, and a declared
    1 TB job request closed the connection (MemoryError). After: 413 on the
    declared length, nothing read or written."""
    for path, length, limit, switch in [
        (UPLOAD, (1 << 20) + 1, 1 << 20, '--max-upload-mb'),
        (UPLOAD, 3 * 10**9, 1 << 20, '--max-upload-mb'),
        (UPLOAD, '9' * 40, 1 << 20, '--max-upload-mb'),
        ('/api/jobs', 10**12, 1024, '--max-request-kb'),
        ('/api/jobs', 1025, 1024, '--max-request-kb'),
    ]:
        status, _, body = _post(server, path, length)
        assert status == 413, body
        assert f'this server takes at most {limit} (start it with a ' \
            f'larger {switch})' in body['error']
    assert _uploads(server) == [] and server.demo.jobs == {}
    status, _, body = _post(server, UPLOAD, 0)
    assert (status, body) == (400,
                              dict(error='upload of v.mp4: the file '
                                   'is empty'))
    status, _, body = _post(server, UPLOAD, 1 << 20, b'x' * (1 << 20))
    assert status == 200 and body['label'] == 'v.mp4'


def test_an_aborted_or_stalled_upload_leaves_nothing(server):
    """Before: an aborted upload left its part (``uploads/9/big.mp4``).
    After: a body that ends (400) or stalls for the read timeout (408)
    before its length is refused and its file and folder removed."""
    status, _, body = _post(server, UPLOAD, 10, b'12345', end_body=True)
    assert (status, body['error']) == (
        400, 'upload of v.mp4: the connection ended after 5 of its 10 bytes')
    assert _uploads(server) == []
    status, _, body = _post(server, UPLOAD, 10, b'12345')  # then nothing
    assert (status, body['error']) == (
        408, 'upload of v.mp4: nothing came for a while after 5 of its 10 '
        'bytes')
    assert _uploads(server) == []
    status, _, body = _post(server, '/api/jobs', 10, b'{}', end_body=True)
    assert (status, body['error']) == (
        400, '/api/jobs: the connection ended after 2 of its 10 bytes')
    assert server.demo.jobs == {}


def test_an_upload_name_over_the_limit_is_refused(server):
    """Before: a 5,000-character name closed the connection with no reply
    (ENAMETOOLONG) and left an empty folder. After: 400 naming the limit
    and its switch, nothing written; a name of the limit is taken."""
    status, _, body = _post(server,
                            f'/api/upload?kind=video&name={"a" * 5000}', 3,
                            b'abc')
    assert (status, body['error']) == (
        400, 'upload: a file name of 5000 characters (aaaaaaaaaaaaaaaaaaaa'
        '...); at most 40 are taken (stmixer-web --max-name-length)')
    assert _uploads(server) == []
    status, _, body = _post(server, f'/api/upload?kind=video&name={"a" * 40}',
                            3, b'abc')
    assert status == 200 and body['label'] == 'a' * 40


@pytest.mark.parametrize('request_, message', [
    (dict(strict=None), 'strict: expected true or false, got null'),
    (dict(strict='no'), 'strict: expected true or false, got "no"'),
    (dict(stride='8'),
     'stride: expected a whole number of frames >= 1, got "8"'),
    (dict(stride=1.5), 'stride: expected a whole number of frames >= 1'),
    (dict(stride=True), 'stride: expected a whole number of frames >= 1, '
     'got true'),
    (dict(score_thr='0.3'), 'score_thr: expected a number in [0, 1], '
     'got "0.3"'),
    (dict(person_thr=[]), 'person_thr: expected a number in [0, 1], or '
     "null: the config's, got []"),
    (dict(video=5), 'video: expected the key of a video /api/choices '
     'lists (a string), got 5'),
    (dict(checkpoint={}), 'checkpoint: expected the key of a checkpoint'),
    (dict(strcit=False), 'unknown field strcit; a job takes video, '
     'config, checkpoint, stride, score_thr, person_thr, strict'),
])
def test_each_job_field_is_type_checked(server, request_, message):
    """Before: ``{"strict": null}`` ran non-strict (fields were not type
    checked). After: a field of another JSON type (or an unknown field) is
    a 400 naming it and what was expected; no job is made."""
    body = json.dumps(
        dict(dict(video='synthetic', config='config:0'), **request_)).encode()
    status, _, answer = _post(server, '/api/jobs', len(body), body)
    assert status == 400 and answer['error'].startswith(message), answer
    assert server.demo.jobs == {}


def test_a_job_request_that_is_not_a_json_object_is_refused(server):
    """NaN, a key given twice, another JSON value or not JSON: 400."""
    for body, message in [
        (b'{"score_thr": NaN}', 'NaN is not a JSON number'),
        (b'{"strict": true, "strict": false}', 'strict given twice'),
        (b'[1]', '/api/jobs: expected a JSON object, got list'),
        (b'{"strict"', '/api/jobs: the body is not JSON ('),
        (b'\xff\xfe{', '/api/jobs: the body is not JSON ('),
    ]:
        status, _, answer = _post(server, '/api/jobs', len(body), body)
        assert status == 400 and message in answer['error'], (body, answer)
    assert server.demo.jobs == {}


def test_a_malformed_or_unsatisfiable_range_is_416(server, tmp_path):
    """Before: ``Range: bytes=-`` answered 206 without ``Content-Range``,
    the whole file. After: a malformed range (``bytes=-``, several, another
    unit, last before first) or one outside the file is 416 with
    ``Content-Range: bytes */<size>`` and a JSON message; a valid one 206
    with its ``Content-Range``."""
    video = tmp_path / 'drawn.mp4'
    video.write_bytes(bytes(range(100)))
    job = DemoJob('7', {}, 1, 0.3, None, True, str(tmp_path))
    job.state, job.outputs = 'done', dict(video=str(video), json=str(video))
    server.demo.jobs['7'] = job
    get = 'GET /jobs/7/video.mp4 HTTP/1.1\r\nHost: x'
    for asked in ('bytes=-', 'bytes=100-', 'bytes=5-3', 'bytes=0-1,5-6',
                  'items=0-5', 'bytes=-0', 'bytes=' + '9' * 5000 + '-',
                  'bytes=1-2-3'):
        status, headers, body = _ask(server, f'{get}\r\nRange: {asked}')
        assert (status, headers['Content-Range']) == (416, 'bytes */100')
        assert body['error'].endswith("within the file's 100 bytes"), body
    for asked, first, last in [('bytes=-10', 90, 99), ('bytes=95-200', 95, 99),
                               ('bytes=3-3', 3, 3)]:
        status, headers, body = _ask(server, f'{get}\r\nRange: {asked}')
        assert status == 206
        assert headers['Content-Range'] == f'bytes {first}-{last}/100'
        assert body == bytes(range(first, last + 1))
    status, headers, body = _ask(server, get)
    assert status == 200 and 'Content-Range' not in headers
    assert body == bytes(range(100))


def test_other_malformed_requests_get_a_json_4xx(server):
    """A method not served (405, not http.server's 501), a request line
    that is not HTTP, an unknown or repeated upload parameter, a path
    that takes no post: each a 4xx with a JSON message."""
    status, headers, body = _ask(server, 'PUT /api/jobs HTTP/1.1\r\nHost: x')
    assert (status, headers['Allow']) == (405, 'GET, HEAD, POST')
    assert body['error'] == 'PUT: not served here; GET, HEAD or POST'
    status, _, body = _ask(server, 'GARBAGE')
    assert status == 400 and body['error']
    for path, message in [
        ('/api/upload?kind=video&title=v.mp4', '/api/upload: unknown '
         'parameter title; it takes kind, name, each once'),
        ('/api/upload?kind=video&kind=config', '/api/upload: given twice: '
         'kind; it takes kind, name, each once'),
        ('/api/jobs?x=1', '/api/jobs: unknown parameter x; it takes none'),
    ]:
        status, _, body = _post(server, path, 1, b'x')
        assert (status, body['error']) == (400, message)
    status, _, body = _post(server, '/api/nothing', 1, b'x')
    assert (status, body['error']) == (404, '/api/nothing: nothing to post '
                                       'to')
    assert _uploads(server) == [] and server.demo.jobs == {}
    status, _, body = _ask(server, 'GET /api/limits HTTP/1.1\r\nHost: x')
    assert body == dict(
        max_upload_bytes=1 << 20, max_name_chars=40, max_request_bytes=1024)


def test_the_limits_are_options_with_their_defaults_in_the_help(capsys):
    """``--max-upload-mb``, ``--max-request-kb``, ``--max-name-length``:
    defaults stated in the help, a value that is not a whole number >= 1
    refused by argparse."""
    with pytest.raises(SystemExit):
        parse_args(['--help'])
    text = ' '.join(capsys.readouterr().out.split())
    for default in ('in MiB (default: 2048)', 'in KiB (default: 64)',
                    'in characters (default: 255,'):
        assert default in text
    args = parse_args([])
    assert (args.max_upload_mb, args.max_request_kb,
            args.max_name_length) == (2048, 64, 255)
    for option in ('--max-upload-mb', '--max-request-kb', '--max-name-length'):
        for value in ('0', '-1', '1.5', 'x'):
            with pytest.raises(SystemExit) as e:
                parse_args([option, value])
            assert e.value.code == 2
            assert f"{option}: expected a whole number >= 1, got " \
                f"'{value}'" in capsys.readouterr().err


def test_the_limits_are_checked_where_they_are_given(tmp_path):
    """``WebDemo`` and ``make_server`` refuse a limit out of range, naming
    it."""
    from stmixer_mm.apps.web_demo import WebDemo, make_server
    with pytest.raises(
            ValueError,
            match=r'^WebDemo: max_name_chars must '
            r'be a whole number >= 1, got 0$'):
        WebDemo(str(tmp_path), max_name_chars=0)
    demo = WebDemo(str(tmp_path))
    try:
        for name, value, expected in (('max_upload_bytes', -1,
                                       r'a whole number >= 1'),
                                      ('max_request_bytes', 1.5,
                                       r'a whole number >= 1'),
                                      ('read_timeout', 0, r'a number > 0')):
            with pytest.raises(
                    ValueError,
                    match=f'^make_server: {name} must '
                    f'be {expected}, got {value}$'):
                make_server(demo, port=0, **{name: value})
    finally:
        demo.close()


def test_an_upload_cut_by_the_server_stopping_leaves_nothing(server):
    """The server stops (``WebDemo.close``, as at SIGTERM) while an upload
    is being written: its file and folder are removed."""
    server.read_timeout = 60.0  # the upload stalls, not refused
    with socket.create_connection(server.server_address, timeout=WAIT) as s:
        s.sendall(f'POST {UPLOAD} HTTP/1.1\r\nHost: x\r\nContent-Length: '
                  '10\r\n\r\n12345'.encode())
        end = time.monotonic() + WAIT
        while not _uploads(server):
            assert time.monotonic() < end, 'the upload was not started'
            time.sleep(0.02)
        assert server.demo.close(WAIT)
        assert _uploads(server) == []
