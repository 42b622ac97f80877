"""Issue 73, item 5: the demo in the browser (``stmixer-web``,
``tools/web_demo.py``; docs/en/web_demo.md). The server is started as the
command line builds it (:func:`stmixer_mm.apps.cli.web.build_server`, port 0)
with the tests' tiny model, served from a thread; a short clip written with
PyAV runs end to end. The browser test drives Debian's headless Chromium
through chromedriver (selenium, the ``[web]`` extra) and is skipped, saying
what is missing, without them.

Issue 84, item 4: the drawn video at the source's frame rate, one label per
person in the video and the timeline, labelled lanes, a preview of the
input, a link to download the drawn video, a wrong upload withdrawn."""
import glob
import io
import json
import os
import os.path as osp
import shutil
import threading
import urllib.error
import urllib.request

import av
import cv2
import numpy as np
import pytest

from stmixer_mm.apis.video_io import keyframe_indices
from stmixer_mm.apps.cli.web import build_server, parse_args
from stmixer_mm.utils.dependencies import require_extra

#: frames between two keyframes in the runs (24 frames: 6 keyframes)
STRIDE = 4
#: frames and frame rate of the clip
FRAMES, FPS = 24, 8


def _write_clip(path, frame_dir):
    """The tiny data set's 24 frames of ``syn_val_000`` (64x64, with its
    synthetic persons) as an 8 fps mp4, written with PyAV."""
    files = sorted(glob.glob(osp.join(frame_dir, '*.jpg')))
    assert len(files) == FRAMES
    with av.open(path, 'w') as out:
        stream = out.add_stream('mpeg4', rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 64, 64, 'yuv420p'
        for f in files:
            image = cv2.cvtColor(cv2.imread(f), cv2.COLOR_BGR2RGB)
            frame = av.VideoFrame.from_ndarray(image, format='rgb24')
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture(scope='module')
def server(tools, random_checkpoint, tmp_path_factory):
    """``stmixer-web --config TINY_CFG --checkpoint <random weights> --video
    clip.mp4 --port 0 --work-dir ...``, served from a thread."""
    tmp = tmp_path_factory.mktemp('web')
    clip = _write_clip(
        str(tmp / 'clip.mp4'),
        osp.join(tools.TINY_DATA, 'rawframes', 'syn_val_000'))
    args = parse_args([
        '--config', tools.TINY_CFG, '--checkpoint', random_checkpoint,
        '--video', clip, '--port', '0', '--work-dir',
        str(tmp / 'work'), '--allow-config-upload'
    ])
    srv = build_server(args)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    srv.demo.close()


def _get(srv, path, headers=None):
    request = urllib.request.Request(
        srv.url + path.lstrip('/'), headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as r:
        return r.status, dict(r.headers), r.read()


def _post(srv, path, body: bytes):
    request = urllib.request.Request(
        srv.url + path.lstrip('/'), data=body, method='POST')
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _upload(srv, kind, name, data: bytes) -> str:
    status, body = _post(srv, f'/api/upload?kind={kind}&name={name}', data)
    assert status == 200, body
    assert body['label'] == name
    return body['key']


def _finished(srv, request: dict) -> dict:
    """The status of a job run to its end (polled at most 1200 times:
    a hung worker fails the test instead of hanging it)."""
    status, job = _post(srv, '/api/jobs', json.dumps(request).encode())
    assert status == 200, job
    for _ in range(1200):
        if job['state'] in ('done', 'error'):
            return job
        threading.Event().wait(0.1)
        job = json.loads(_get(srv, f'/api/jobs/{job["id"]}')[2])
    raise AssertionError(f'the job did not end: {job}')


def _defaults(srv) -> dict:
    choices = json.loads(_get(srv, '/api/choices')[2])
    return {kind: options[0]['key'] for kind, options in choices.items()}


def _video_rate(data: bytes):
    """``(frames, frame rate)`` of a served video, read with PyAV."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        return sum(1 for _ in container.decode(stream)), stream.average_rate


@pytest.fixture
def drawn_texts(monkeypatch):
    """Every text OpenCV draws meanwhile (the drawn video's labels)."""
    texts = []
    put_text = cv2.putText

    def spy(image, text, *args, **kwargs):
        texts.append(text)
        return put_text(image, text, *args, **kwargs)

    monkeypatch.setattr(cv2, 'putText', spy)
    return texts


def test_the_server_runs_a_clip_and_names_each_wrong_file(
        server, drawn_texts, tools):
    """Without a browser: the choices (the given clip first, with its
    preview, then the synthetic video), a run of the clip to its drawn
    video (every frame, at the clip's rate, each person labelled as the
    job's ``track_labels`` say) and JSON, and a wrong video, checkpoint and
    config each refused with the project's message naming the file as
    uploaded (no server folder in it), before any output, and withdrawn
    from the choices; a bad request names its field."""
    choices = json.loads(_get(server, '/api/choices')[2])
    assert [c['label'] for c in choices['video']
            ] == ['clip.mp4 (given)', 'synthetic demo video (8 s, 3 persons)']
    assert choices['config'][0]['label'] == 'tiny_stmixer_tiny-ava.py (given)'
    # the preview: the given clip as it is; the synthetic one not written
    clip, synthetic = choices['video']
    assert synthetic['preview_url'] is None
    status, headers, body = _get(server, clip['preview_url'])
    assert (status, headers['Content-Type']) == (200, 'video/mp4')
    assert _video_rate(body) == (FRAMES, FPS)
    chosen = _defaults(server)

    job = _finished(server, dict(chosen, stride=STRIDE, score_thr=0.0))
    assert job['state'] == 'done', job['message']
    assert job['frames_read'] == job['num_frames'] == FRAMES
    assert job['fps'] == FPS
    status, headers, body = _get(server, job['json_url'])
    assert headers['Content-Disposition'] == (
        'attachment; filename="clip_det.json"; '
        "filename*=UTF-8''clip_det.json")
    prediction = json.loads(body)
    assert [k['frame'] for k in prediction['keyframes']] == \
        keyframe_indices(FRAMES, STRIDE)
    persons = [p for k in prediction['keyframes'] for p in k['persons']]
    assert persons and all('track_id' in p for p in persons)
    # one label per person, the one drawn on it in the video
    ids = sorted({p['track_id'] for p in persons})
    labels = job['track_labels']
    assert sorted(labels) == sorted(str(i) for i in ids)
    assert len(set(labels.values())) == len(ids)
    assert set(labels.values()) <= set(drawn_texts), (labels, drawn_texts)
    # the drawn video: every frame of the clip, at its rate
    status, headers, body = _get(server, job['video_url'])
    assert (status, headers['Content-Type']) == (200, 'video/mp4')
    assert _video_rate(body) == (FRAMES, FPS)
    assert job['video_name'] == 'clip_det.mp4'
    status, headers, body = _get(server, job['video_url'],
                                 {'Range': 'bytes=0-99'})
    assert status == 206 and len(body) == 100
    assert headers['Content-Range'].startswith('bytes 0-99/')

    # the built-in synthetic video, written when first chosen
    job = _finished(server, dict(chosen, video='synthetic', stride=16))
    assert job['state'] == 'done', job['message']
    assert job['summary'] == '128 frames, 8 keyframes (stride 16) of demo.mp4'
    assert sorted(os.listdir(osp.join(server.demo.work_dir,
                                      'synthetic'))) == ['demo.mp4']
    synthetic = json.loads(_get(server, '/api/choices')[2])['video'][1]
    assert _get(server, synthetic['preview_url'])[0] == 200

    wrong = dict(
        video=('bad.mp4', b'hello, not a video\n',
               'bad.mp4: PyAV (FFmpeg) cannot open it as a video ('),
        checkpoint=('model.pth', b'not a checkpoint\n',
                    'model.pth is corrupt or not a checkpoint'),
        config=('base.py', b'x = 1\n', 'config base.py: no model = dict('))
    bad_setting = (f'_base_ = [{tools.TINY_CFG!r}]\nmodel = dict(roi_head='
                   'dict(stage_head=dict(num_actions=0)))\n').encode()
    cases = list(wrong.items()) + [
        ('config', ('num_actions.py', bad_setting,
                    'model.roi_head.stage_head: ValueError: STMixerStageHead: '
                    'num_actions must be an int >= 1, got 0'))
    ]
    for kind, (name, data, message) in cases:
        key = _upload(server, kind, name, data)
        job = _finished(server, dict(chosen, stride=STRIDE, **{kind: key}))
        assert job['state'] == 'error', (kind, job)
        assert job['message'].startswith(message), (kind, job['message'])
        assert job['message'].endswith(
            f'\n({name} is no longer offered as a {kind}: upload it again '
            'once fixed)'), job['message']
        assert server.demo.work_dir not in job['message']
        assert not osp.exists(server.demo.jobs[job['id']].out_dir)
        # withdrawn: not offered, its file removed, its key not given again
        offered = json.loads(_get(server, '/api/choices')[2])[kind]
        assert key not in [c['key'] for c in offered], offered
        assert not osp.exists(server.demo.jobs[job['id']].files[kind].path)
        assert _upload(server, kind, f'again_{name}', data) != key
    # a given file is never withdrawn (only uploads are)
    assert json.loads(_get(server, '/api/choices')[2])['video'][0] == clip

    for field, value, message in [
        ('stride', 0, 'stride: expected a whole number of frames >= 1, '
         'got 0'),
        ('score_thr', 2, 'score_thr: expected a number in [0, 1], got 2'),
        ('checkpoint', '', 'no checkpoint chosen: choose one or upload'),
        ('checkpoint', None, 'checkpoint: expected the key of a checkpoint '
         '/api/choices lists (a string), got null'),
        ('video', 'video:9', "video='video:9' is not one the page offers"),
    ]:
        status, body = _post(
            server, '/api/jobs',
            json.dumps(dict(chosen, **{field: value})).encode())
        assert status == 400 and body['error'].startswith(message), body


def test_the_command_refuses_what_it_cannot_serve(tools, tmp_path, capsys):
    """``stmixer-web`` stops before serving on a missing file it is given,
    a work folder that is a file, a port out of range or taken, each named
    (exit status 1, or argparse's 2)."""
    from stmixer_mm.apps.cli.web import main
    missing = str(tmp_path / 'nope.pth')
    a_file = tmp_path / 'file'
    a_file.write_text('')
    for argv, message in [
        (['--checkpoint', missing], f'checkpoint {missing}: no such file'),
        (['--video', missing], f'video {missing}: no such file'),
        (['--work-dir', str(a_file)], f'{a_file}: the output folder is a '
         'file'),
    ]:
        with pytest.raises(SystemExit) as e:
            main(argv + ['--port', '0'], prog='stmixer-web')
        assert str(e.value).startswith(f'stmixer-web: error: {message}'), \
            e.value
    with pytest.raises(SystemExit) as e:
        main(['--port', '70000'], prog='stmixer-web')
    assert e.value.code == 2
    assert "--port: expected a port number in [0, 65535] (0: a free one), " \
        "got '70000'" in capsys.readouterr().err
    taken = build_server(parse_args(['--port', '0']))
    try:
        # the quick-start config nobody passed: offered as the default
        (config, ) = taken.demo.choices['config']
        assert config.label.endswith('(default)'), config.label
        port = taken.server_address[1]
        with pytest.raises(SystemExit) as e:
            main(['--port', str(port)], prog='stmixer-web')
        assert str(e.value).startswith(
            f'stmixer-web: error: cannot listen on 127.0.0.1:{port} (')
        assert str(e.value).endswith('); --port 0 picks a free port')
    finally:
        taken.server_close()
        taken.demo.close()
        shutil.rmtree(taken.temp_dir)


def _browser_paths():
    """Chromium and chromedriver, or the test skipped naming what is
    missing."""
    try:
        require_extra('web', 'the browser test of stmixer-web')
    except ModuleNotFoundError as e:
        pytest.skip(str(e))
    chromium = next(
        (shutil.which(name)
         for name in ('chromium', 'chromium-browser') if shutil.which(name)),
        None)
    driver = shutil.which('chromedriver')
    if chromium is None or driver is None:
        pytest.skip(
            f'no {"chromium" if chromium is None else "chromedriver"} on '
            'PATH: apt-get install chromium chromium-driver (Debian; '
            'tools/setup_env.sh does it when run as root)')
    return chromium, driver


@pytest.fixture
def browser():
    chromium, driver = _browser_paths()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage',
                '--disable-gpu', '--window-size=1100,1400'):
        options.add_argument(arg)
    options.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    chrome = webdriver.Chrome(options=options, service=Service(driver))
    yield chrome
    chrome.quit()


def test_the_page_runs_a_clip_in_a_browser(server, browser, tmp_path,
                                           drawn_texts):
    """In headless Chromium: the page offers the files and previews the
    chosen video; a run of the clip shows the progress, then the drawn
    video (decoded by the browser, every frame of the clip: its duration),
    a link that downloads it, a timeline with one row per track id of the
    JSON labelled as the video labels the person, a labelled lane and a bar
    per listed action, and the JSON to download; a screenshot of it is not
    blank. A text file uploaded as the video is previewed from the disk,
    gets the message naming it in the page, and is no longer offered nor
    chosen."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
    wait = WebDriverWait(browser, 25)
    browser.get(server.url)
    video_choice = Select(browser.find_element(By.ID, 'video-choice'))
    wait.until(lambda d: video_choice.options)
    assert video_choice.first_selected_option.text == 'clip.mp4 (given)'
    # the preview of the chosen video, as the server serves it
    preview = browser.find_element(By.ID, 'input-preview')
    wait.until(lambda d: preview.get_attribute('src'))
    clip = json.loads(_get(server, '/api/choices')[2])['video'][0]
    assert preview.get_attribute('src') == \
        server.url + clip['preview_url'].lstrip('/')
    for field, value in (('stride', STRIDE), ('score-thr', 0)):
        box = browser.find_element(By.ID, field)
        box.clear()
        box.send_keys(str(value))
    browser.find_element(By.ID, 'run').click()
    wait.until(lambda d: d.find_element(By.ID, 'results').is_displayed() or d.
               find_element(By.ID, 'error').is_displayed())
    assert not browser.find_element(By.ID, 'error').is_displayed(), \
        browser.find_element(By.ID, 'error').text
    assert browser.find_element(By.ID, 'status-text').text.startswith(
        f'done: {FRAMES} frames, {len(keyframe_indices(FRAMES, STRIDE))} '
        'keyframes')

    # the drawn video: the browser decodes it (its size, duration: every
    # frame of the clip at its rate, first frame)
    wait.until(lambda d: d.execute_script(
        'const v = document.getElementById("result-video");'
        'return v.readyState >= 3 && v.videoWidth > 0;'))
    width, duration, src = browser.execute_script(
        'const v = document.getElementById("result-video");'
        'return [v.videoWidth, v.duration, v.currentSrc];')
    assert width == 360  # 64x64 drawn at 360x360
    assert abs(duration - FRAMES / FPS) < 1.5 / FPS, duration
    # its download link: the served file, every frame at the clip's rate
    link = browser.find_element(By.ID, 'download-video')
    assert link.get_attribute('href') == src
    assert link.get_attribute('download') == 'clip_det.mp4'
    status, headers, body = _get(server, src[len(server.url) - 1:])
    assert (status, headers['Content-Type']) == (200, 'video/mp4')
    assert _video_rate(body) == (FRAMES, FPS)

    # the timeline: a row per track id of the JSON, a bar per action run
    link = browser.find_element(By.ID, 'download-json')
    assert link.get_attribute('download') == 'clip_det.json'
    prediction = json.loads(
        _get(server,
             link.get_attribute('href')[len(server.url) - 1:])[2])
    ids = sorted(
        {p['track_id']
         for k in prediction['keyframes']
         for p in k['persons']})
    actions = sorted({
        a
        for k in prediction['keyframes']
        for p in k['persons']
        for a in p['actions']
    })
    assert ids and actions
    rows = browser.find_elements(By.CSS_SELECTOR, '#timeline-svg g.track-row')
    assert [int(r.get_attribute('data-track-id')) for r in rows] == ids
    # each row labelled as the video labels the person (the server's label,
    # which OpenCV drew on the frames)
    last = max(server.demo.jobs, key=int)
    job = json.loads(_get(server, f'/api/jobs/{last}')[2])
    labels = [r.find_element(By.CLASS_NAME, 'row-label').text for r in rows]
    assert labels == [job['track_labels'][str(i)] for i in ids]
    assert len(set(labels)) == len(ids) and set(labels) <= set(drawn_texts)
    # a lane per action a person has, labelled with it, its bars in it
    for row, i in zip(rows, ids):
        lanes = row.find_elements(By.CSS_SELECTOR, 'g.lane')
        mine = sorted({
            a
            for k in prediction['keyframes']
            for p in k['persons'] if p['track_id'] == i for a in p['actions']
        })
        assert [lane.get_attribute('data-action') for lane in lanes] == mine
        for lane, name in zip(lanes, mine):
            assert lane.find_element(By.CLASS_NAME, 'lane-label').text == name
            assert lane.find_elements(By.CLASS_NAME, 'action-bar')
    bars = browser.find_elements(By.CSS_SELECTOR, '#timeline-svg .action-bar')
    assert sorted({b.get_attribute('data-action') for b in bars}) == actions
    legend = browser.find_elements(By.CSS_SELECTOR, '#legend .legend-item')
    assert [item.text for item in legend] == actions

    shot = tmp_path / 'web_demo.png'
    assert browser.save_screenshot(str(shot))
    print(f'screenshot: {shot}')
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[0] > 500
    assert float(image.std()) > 20  # not blank
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 100

    # a wrong file: previewed from the disk, then the message in the page,
    # and neither offered nor chosen any more
    bad = tmp_path / 'bad.mp4'
    bad.write_text('hello, not a video\n')
    browser.find_element(By.ID, 'video-file').send_keys(str(bad))
    assert preview.get_attribute('src').startswith('blob:')
    browser.find_element(By.ID, 'run').click()
    error = browser.find_element(By.ID, 'error')
    wait.until(lambda d: error.is_displayed())
    assert error.text.startswith(
        'bad.mp4: PyAV (FFmpeg) cannot open it as a video ('), error.text
    assert error.text.endswith('(bad.mp4 is no longer offered as a video: '
                               'upload it again once fixed)'), error.text
    assert not browser.find_element(By.ID, 'results').is_displayed()
    wait.until(
        lambda d: not d.find_element(By.ID, 'run').get_attribute('disabled'))
    assert 'bad.mp4' not in [o.text for o in video_choice.options]
    assert video_choice.first_selected_option.text == 'clip.mp4 (given)'
    assert browser.find_element(By.ID,
                                'video-file').get_attribute('value') == ''
    assert preview.get_attribute('src') == \
        server.url + clip['preview_url'].lstrip('/')
    browser.save_screenshot(str(tmp_path / 'web_demo_error.png'))
    # no script error, no failed request (the page's own console)
    errors = [e for e in browser.get_log('browser') if e['level'] == 'SEVERE']
    assert errors == [], errors


def test_configs_are_uploaded_only_when_allowed(tmp_path):
    """A config is a Python file that runs when read: without
    ``--allow-config-upload`` the page cannot upload one (the message says
    why), videos and checkpoints it can."""
    import io

    from stmixer_mm.apps.web_demo import WebDemo
    demo = WebDemo(str(tmp_path / 'work'))
    try:
        with pytest.raises(
                ValueError,
                match=r'^upload of x\.py: configs '
                r'cannot be uploaded here: a config is a Python '
                r'file that runs'):
            demo.upload('config', 'x.py', io.BytesIO(b'x = 1\n'), 6)
        assert demo.choices['config'] == []
        assert demo.upload('video', 'v.mp4', io.BytesIO(b'abc'),
                           3).label == 'v.mp4'
    finally:
        demo.close()
