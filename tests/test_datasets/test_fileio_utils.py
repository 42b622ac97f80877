"""stmixer_mm/datasets/fileio_utils.py: file checks and text reading
through mmengine's fileio (a registered backend, ``backend_args``)."""
import pytest

from stmixer_mm.datasets.fileio_utils import is_dir, is_file, text_lines


def test_local_paths(tmp_path):
    f = tmp_path / 'a.csv'
    f.write_text('x,1\ny,2\n')
    for args in (None, dict(backend='local')):
        assert is_file(str(f), args) and not is_dir(str(f), args)
        assert is_dir(str(tmp_path), args) and not is_file(str(tmp_path), args)
        assert not is_file(str(tmp_path / 'no.csv'), args)
        with text_lines(str(f), args) as lines:
            assert list(lines) == ['x,1\n', 'y,2\n']


def test_registered_backend_by_prefix_and_by_name(recording_backend):
    root = recording_backend.root
    with open(f'{root}/a.csv', 'w') as f:
        f.write('x,1\r\ny,2\n')
    assert is_file('rec://a.csv') and not is_file('rec://b.csv')
    assert is_dir('rec://') is True
    # newline as open(): None translates, '' keeps the line ends (csv)
    with text_lines('rec://a.csv') as lines:
        assert list(lines) == ['x,1\n', 'y,2\n']
    with text_lines('rec://a.csv', newline='') as lines:
        assert list(lines) == ['x,1\r\n', 'y,2\n']
    # backend_args name the backend (a path without the prefix is refused
    # by this backend, so the call did go through it)
    args = dict(backend='stmixer-test-recording')
    assert is_file('rec://a.csv', args)
    with pytest.raises(ValueError, match='not a rec:// path'):
        is_file('a.csv', args)
    assert ('isfile', 'rec://a.csv') in recording_backend.calls
    assert ('get', 'rec://a.csv') in recording_backend.calls


def _consume(lines):
    out = []
    try:
        for line in lines:
            out.append(line)
    except UnicodeDecodeError as e:
        return out, e.reason
    return out, None


@pytest.mark.parametrize('good_lines', [1, 5000])
def test_binary_file_fails_as_with_open(tmp_path, good_lines):
    """Decoded lazily as by open(): the lines before the chunk that cannot
    be decoded are read, then the same error (the AVA checks name the
    line)."""
    f = tmp_path / 'b.csv'
    f.write_bytes(b'x,1\n' * good_lines + b'\xff\xfe\x00\n')
    with open(f) as handle:
        expected = _consume(handle)
    with text_lines(str(f)) as lines:
        got = _consume(lines)
    assert got == expected
    assert expected[1] is not None


def test_backend_that_cannot_tell(monkeypatch):
    """A backend without isfile / isdir (mmengine's http backend) counts
    as 'yes': reading the file then says what is wrong."""
    from mmengine.fileio.backends import HTTPBackend

    def cannot(self, path):
        raise NotImplementedError

    monkeypatch.setattr(HTTPBackend, 'isfile', cannot, raising=False)
    monkeypatch.setattr(HTTPBackend, 'isdir', cannot, raising=False)
    assert is_file('http://example.invalid/a.pkl')
    assert is_dir('http://example.invalid/frames')


def test_frame_folder_gap():
    """The first frame file missing before a folder's last one (or, given
    the video's frame count, before its last frame) is named; a shorter
    folder, other files and mmaction2's 1-based AVA frames with
    start_index=0 are no gap."""
    from stmixer_mm.datasets.fileio_utils import frame_folder_gap
    tmpl = 'img_{:05}.jpg'
    full = {tmpl.format(i) for i in range(1, 11)}
    for names, start, num in [(full, 1, None), (full, 0, None),
                              (full - {'img_00010.jpg'}, 1, None),
                              (full | {'img_005.jpg', 'a.txt'}, 1, None),
                              (full, 1, 10), (full, 1, 8)]:
        assert frame_folder_gap('F', names, tmpl, start, num) is None
    gap = frame_folder_gap('F', full - {'img_00004.jpg'}, tmpl, 0)
    assert gap.startswith('frame folder F: frame file img_00004.jpg is '
                          'missing; 1 of the 10 files '
                          'img_00001.jpg..img_00010.jpg expected up to the '
                          'last frame file there'), gap
    # the first frame, and frames past the last listed one given a count
    assert 'frame file img_00001.jpg is missing' in frame_folder_gap(
        'F', full - {'img_00001.jpg'}, tmpl, 1)
    gap = frame_folder_gap('F', full, tmpl, 1, 12)
    assert "img_00011.jpg is missing (also img_00012.jpg); 2 of the 12 " \
        "files img_00001.jpg..img_00012.jpg expected for the video's 12 " \
        'frames' in gap, gap
    # a template with literal braces and an unpadded field
    names = {'{a}_1.png', '{a}_3.png', '{a}_10.png'}
    assert 'frame file {a}_2.png is missing (also {a}_4.png, {a}_5.png, ' \
        '{a}_6.png, ...); 7 of the 10' in frame_folder_gap(
            'F', names, '{{a}}_{}.png', 1)
