"""The browser demo (``stmixer-web``) and bad names and numbers
(docs/en/bad_inputs.md): a download whose name is not Latin-1 or holds a
quote, a ``--max-name-length`` over what file systems take, a name the
file system refuses, a 14-digit ``--max-upload-mb``. The server is built
as the command line builds it (port 0) and hit over raw sockets, as in
test_web_demo_limits.py; each request has a socket timeout. No model
runs."""
import errno
import os
import threading
from email.message import EmailMessage

import pytest

from stmixer_mm.apps.cli.web import build_server, parse_args
from stmixer_mm.apps.web_demo import DemoJob, WebDemo
from stmixer_mm.apps.web_demo import jobs as jobs_module
from stmixer_mm.apps.web_demo import make_server
from stmixer_mm.apps.web_demo.server import MAX_LIMIT_BYTES
from stmixer_mm.testing import http_exchange

#: seconds a test waits for an answer before it fails
WAIT = 10


@pytest.fixture
def server(tmp_path):
    srv = build_server(
        parse_args(['--port', '0', '--work-dir',
                    str(tmp_path / 'work')]))
    srv.read_timeout = 1.0
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    assert srv.demo.close(WAIT)


def _ask(srv, head: str, body: bytes = b''):
    """:func:`stmixer_mm.testing.http_exchange` with this server."""
    return http_exchange(srv.server_address, head, body, timeout=WAIT)


def _upload(srv, name: str, body: bytes = b'abc'):
    head = (f'POST /api/upload?kind=video&name={name} HTTP/1.1\r\nHost: x'
            f'\r\nContent-Length: {len(body)}')
    return _ask(srv, head, body)


def _shows_no_server_path(srv, message: str) -> bool:
    work = srv.demo.work_dir
    return work not in message and os.path.abspath(work) not in message


@pytest.mark.parametrize('name', [
    'видео_det.json', '動画 "final"_det.json', 'a"b\\c;d%20e_det.json',
    'café_det.json', '"_det.json'
])
def test_a_download_of_any_name_has_a_valid_content_disposition(
        server, tmp_path, name):
    """Before: a name that is not Latin-1 (a ``--video`` named in Cyrillic)
    broke the answer (UnicodeEncodeError once the status was sent), and a
    quote went into ``filename="..."`` unescaped. After: ``filename=`` an
    ASCII fallback (quote, backslash, ``%``, ``;`` and non-ASCII replaced)
    and ``filename*=UTF-8''<percent-encoded>`` that gives the name back."""
    out = tmp_path / name
    out.write_text('{"keyframes": []}', encoding='utf-8')
    job = DemoJob('3', {}, 1, 0.3, None, True, str(tmp_path))
    job.state, job.outputs = 'done', dict(video=str(out), json=str(out))
    server.demo.jobs['3'] = job
    status, headers, body = _ask(
        server, 'GET /jobs/3/predictions.json HTTP/1.1\r\nHost: x')
    assert status == 200 and body == {'keyframes': []}
    value = headers['Content-Disposition']
    value.encode('ascii')  # a header in ASCII: no client misreads it
    fallback = value.split('filename="', 1)[1].split('"', 1)[0]
    assert fallback and not set(fallback) & set('"\\%;')
    assert fallback.isascii()
    # filename*, which a client reads first (RFC 6266), gives the name back
    # (decoded by the standard library's RFC 2231 / 5987 reader)
    assert value.startswith(f'attachment; filename="{fallback}"; ')
    extended = value.rsplit('; ', 1)[1]
    assert extended.startswith("filename*=UTF-8''")
    message = EmailMessage()
    message['Content-Disposition'] = f'attachment; {extended}'
    assert message.get_filename() == name


def test_a_plain_name_keeps_its_filename(server, tmp_path):
    out = tmp_path / 'clip_det.json'
    out.write_text('{}')
    job = DemoJob('4', {}, 1, 0.3, None, True, str(tmp_path))
    job.state, job.outputs = 'done', dict(video=str(out), json=str(out))
    server.demo.jobs['4'] = job
    _, headers, _ = _ask(server,
                         'GET /jobs/4/predictions.json HTTP/1.1\r\nHost: x')
    assert headers['Content-Disposition'] == (
        'attachment; filename="clip_det.json"; '
        "filename*=UTF-8''clip_det.json")


@pytest.mark.parametrize('value', ['256', '100000', '9' * 40])
def test_max_name_length_over_what_file_systems_take_is_refused(capsys, value):
    """Before: ``--max-name-length 100000`` was taken, then a 300-character
    name got a 500 showing a server path. After: refused by argparse
    (exit 2), naming the option and the bound."""
    with pytest.raises(SystemExit) as e:
        parse_args(['--max-name-length', value])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert ('argument --max-name-length: too large (at most 255: file '
            'systems take names of at most 255 bytes), got '
            f'{value[:40]!r}') in err, err
    assert parse_args(['--max-name-length', '255']).max_name_length == 255


@pytest.mark.parametrize('option, value, most', [
    ('--max-upload-mb', '12345678901234', MAX_LIMIT_BYTES >> 20),
    ('--max-upload-mb', '9' * 5000, MAX_LIMIT_BYTES >> 20),
    ('--max-request-kb', '12345678901234567', MAX_LIMIT_BYTES >> 10),
])
def test_a_too_large_limit_is_named_too_large(capsys, option, value, most):
    """Before: a 14-digit ``--max-upload-mb`` was refused as "expected a
    whole number >= 1". After: "too large (at most N)", naming the
    option."""
    with pytest.raises(SystemExit) as e:
        parse_args([option, value])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f'argument {option}: too large (at most {most}), got ' \
        f'{value[:40]!r}' in err, err
    assert getattr(
        parse_args([option, str(most)]), option[2:].replace('-', '_')) == most


@pytest.mark.parametrize(
    'option',
    ['--max-upload-mb', '--max-request-kb', '--max-name-length', '--port'])
@pytest.mark.parametrize('value', ['²', '٣', '1_0', '+5', '1e3', '0x10'])
def test_whole_numbers_are_ascii_digits(capsys, option, value):
    """``'²'`` passed ``str.isdigit``; ``int`` takes ``'٣'`` (3), ``'1_0'``
    and ``'+5'``: each is refused, naming the option and the value."""
    with pytest.raises(SystemExit) as e:
        parse_args([option, value])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f'argument {option}: expected a ' in err and repr(value) in err


def test_the_limits_are_bounded_where_they_are_given(tmp_path):
    with pytest.raises(
            ValueError,
            match=r'^WebDemo: max_name_chars is too large \(at most 255: '
            r'file systems take names of at most 255 bytes\), got 100000$'):
        WebDemo(str(tmp_path), max_name_chars=100000)
    demo = WebDemo(str(tmp_path))
    try:
        for name in ('max_upload_bytes', 'max_request_bytes'):
            with pytest.raises(
                    ValueError,
                    match=f'^make_server: {name} is too large '
                    rf'\(at most {MAX_LIMIT_BYTES}\), got {10**18}$'):
                make_server(demo, port=0, **{name: 10**18})
    finally:
        demo.close()


def test_an_over_long_name_is_a_4xx_without_a_server_path(server):
    """A 300-character name: 400 naming its length and the option,
    nothing written; at the limit (255) it is taken."""
    status, _, body = _upload(server, 'a' * 300)
    assert status == 400, body
    assert body['error'] == (
        'upload: a file name of 300 characters (aaaaaaaaaaaaaaaaaaaa...); '
        'at most 255 are taken (stmixer-web --max-name-length)')
    assert os.listdir(server.demo.uploads) == []
    status, _, body = _upload(server, 'b' * 255)
    assert status == 200 and body['label'] == 'b' * 255


def test_a_name_the_file_system_refuses_is_a_4xx_without_a_path(
        server, monkeypatch):
    """Where the file system refuses a name all the same (ENAMETOOLONG: a
    smaller limit than 255 bytes), 400 naming the upload, no server path,
    nothing kept; a disk that is full: 507, no path."""
    monkeypatch.setattr(jobs_module, '_safe_name', lambda name: 'n' * 300)
    status, _, body = _upload(server, 'clip.mp4')
    assert status == 400, body
    assert body['error'] == (
        "upload of clip.mp4: the server's file system refuses a name this "
        'long (8 characters); choose a shorter name, or start the server '
        'with a smaller --max-name-length'), body
    assert _shows_no_server_path(server, body['error'])
    assert os.listdir(server.demo.uploads) == []
    monkeypatch.undo()

    def full(stream, length, out, what):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), out.name)

    monkeypatch.setattr(jobs_module, 'read_body', full)
    status, _, body = _upload(server, 'clip.mp4')
    assert status == 507, body
    assert body['error'] == ('upload of clip.mp4: the server cannot store it '
                             '(No space left on device)')
    assert os.listdir(server.demo.uploads) == []


def test_an_unexpected_os_error_is_a_500_without_a_path(server, monkeypatch):
    """Any OSError the routes do not expect: 500 by its reason, no server
    path (the traceback goes to the server's stderr)."""
    where = os.path.join(server.demo.work_dir, 'secret', 'x')

    def offered():
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), where)

    monkeypatch.setattr(server.demo, 'offered', offered)
    status, _, body = _ask(server, 'GET /api/choices HTTP/1.1\r\nHost: x')
    assert status == 500
    assert body['error'] == 'FileNotFoundError: No such file or directory'
    assert _shows_no_server_path(server, body['error'])
