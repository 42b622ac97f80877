"""``tools/data/import_annotations.py`` end to end on the exports written
by ``tools/data/generate_annotation_exports.py``: the three formats give
the same AVA rows and tube pickle, equal to the generator's truth, the
written config builds the datasets, and every kind of bad input stops with
a message naming where it is."""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from stmixer_mm.apps.cli import import_annotations as tool
from stmixer_mm.apps.command_errors import command_error
from stmixer_mm.apps.data_gen.exports import generate_annotation_exports
from stmixer_mm.apps.output_files import file_states
from stmixer_mm.datasets import ava_keyframe_file_index
from stmixer_mm.datasets.act_annotations import load_act_annotations
from stmixer_mm.registry import DATASETS
from stmixer_mm.testing import repo_root

REPO = repo_root()
TOOL = osp.join(REPO, 'tools', 'data', 'import_annotations.py')
FPS = 16
SECONDS = 4


@pytest.fixture(scope='module')
def exports(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('exports') / 'ex')
    paths = generate_annotation_exports(
        root, num_videos=4, seconds=SECONDS, fps=FPS)
    paths['cvat_in'] = paths['cvat']
    paths['label-studio_in'] = paths['label_studio']
    paths['csv_in'] = paths['csv']
    with open(paths['truth']) as f:
        paths['truth_data'] = json.load(f)
    return paths


def run(fmt, exports, out, *extra, ok=True, capsys=None):
    argv = [
        fmt, exports[f'{fmt}_in'], '--videos', exports['videos'], '--out-dir',
        str(out), '--fps',
        str(FPS), '--val-videos', 'syn_train_001'
    ] + list(extra)
    rc = tool.main(argv)
    if capsys is not None:
        captured = capsys.readouterr()
        if ok:
            assert rc == 0, captured.err
        else:
            assert rc == 1, captured.out
        return captured
    assert rc == (0 if ok else 1)


def truth_rows(truth, split_videos, interval=1):
    """The AVA rows the truth gives at whole seconds T (frame fps * T)."""
    classes = sorted({
        a
        for v in truth['videos'].values()
        for rows in v.values()
        for r in rows
        for a in r[5]
    })
    ids = {c: i + 1 for i, c in enumerate(classes)}
    w, h, fps = truth['width'], truth['height'], truth['fps']
    out = []
    for v in sorted(split_videos):
        frames = truth['videos'][v]
        for T in range(0, len(frames) // fps, interval):
            for pid, x1, y1, x2, y2, actions in sorted(frames[str(fps * T)]):
                for a in sorted(actions, key=ids.get):
                    out.append(f'{v},{T:04d},{x1 / w:.4f},{y1 / h:.4f},'
                               f'{x2 / w:.4f},{y2 / h:.4f},{ids[a]},{pid}')
    return out


def read_lines(path):
    with open(path) as f:
        return f.read().splitlines()


def test_round_trip_ava(exports, tmp_path, capsys):
    outs = {}
    for fmt in ('cvat', 'label-studio', 'csv'):
        start = time.time()
        captured = run(fmt, exports, tmp_path / fmt, capsys=capsys)
        per_video = (time.time() - start) / 4
        # a progress line per video with its time
        assert captured.out.count(' fps in ') == 4, captured.out
        print(f'{fmt}: {per_video:.3f} s per video')
        outs[fmt] = tmp_path / fmt
    truth = exports['truth_data']
    train = ['syn_train_000', 'syn_train_002', 'syn_train_003']
    for split, vids in (('train', train), ('val', ['syn_train_001'])):
        expected = truth_rows(truth, vids)
        assert expected
        for fmt, out in outs.items():
            rows = read_lines(out / 'annotations' / f'{split}.csv')
            rows.sort(key=lambda r:
                      (r.split(',')[0], r.split(',')[1], int(r.split(',')[7])))
            assert rows == sorted(
                expected,
                key=lambda r:
                (r.split(',')[0], r.split(',')[1], int(r.split(',')[7]))), (
                    fmt, split)
    summary = json.load(open(outs['cvat'] / 'import_summary.json'))
    assert summary['splits'] == dict(train=train, val=['syn_train_001'])
    assert summary['videos']['syn_train_000']['frames'] == FPS * SECONDS
    assert summary['videos']['syn_train_000']['keyframes'] == SECONDS
    # the keyframe of timestamp T is the 0-based frame file fps * T
    assert ava_keyframe_file_index(3, 0, FPS, 0) == 3 * FPS
    assert osp.isfile(outs['cvat'] / 'rawframes' / 'syn_train_000' /
                      f'img_{3 * FPS:05d}.jpg')


def _build(config_path):
    cfg = Config.fromfile(str(config_path))
    init_default_scope('mmaction')
    datasets = {}
    for key in ('train_dataloader', 'val_dataloader'):
        datasets[key] = DATASETS.build(cfg[key]['dataset'])
    return cfg, datasets


def test_ava_config_builds_dataset(exports, tmp_path, capsys):
    run('cvat', exports, tmp_path / 'o', capsys=capsys)
    # the written config works from a copy in another folder (its base is
    # found in the installed package, not relative to the file)
    text = (tmp_path / 'o' / 'config.py').read_text()
    assert "_base_ = ['stmixer_mm::quickstart/" in text, text[:400]
    (tmp_path / 'elsewhere').mkdir()
    copy = tmp_path / 'elsewhere' / 'my_config.py'
    shutil.copyfile(tmp_path / 'o' / 'config.py', copy)
    cfg, ds = _build(copy)
    assert type(ds['train_dataloader']).__name__ == 'AVAActorDataset'
    assert len(ds['train_dataloader']) == 3 * SECONDS
    assert len(ds['val_dataloader']) == SECONDS
    assert cfg.model.roi_head.stage_head.num_actions == \
        cfg.val_evaluator.num_classes - 1
    sample = ds['train_dataloader'][0]
    assert sample['inputs'].shape[1] == 8  # the base config's clip
    assert cfg.train_dataloader.dataset.start_index == 0
    assert cfg.train_dataloader.dataset.timestamp_start == 0


def test_round_trip_tubes(exports, tmp_path, capsys):
    gts = {}
    for fmt in ('cvat', 'label-studio', 'csv'):
        run(fmt,
            exports,
            tmp_path / fmt,
            '--layout',
            'tubes',
            '--multi-label',
            'split',
            capsys=capsys)
        gts[fmt] = load_act_annotations(
            str(tmp_path / fmt / 'annotations' / 'tubes_GT.pkl'))
    ref = gts['cvat']
    for fmt, gt in gts.items():
        assert gt['labels'] == ref['labels']
        assert gt['nframes'] == ref['nframes']
        for v, tubes in ref['gttubes'].items():
            assert sorted(gt['gttubes'][v]) == sorted(tubes)
            for label in tubes:
                for a, b in zip(gt['gttubes'][v][label], tubes[label]):
                    np.testing.assert_allclose(a, b, atol=1e-3)
    # the truth: every frame of every actor with each of its actions
    truth = exports['truth_data']
    labels = ref['labels']
    for v, frames in truth['videos'].items():
        expected = sorted((int(f) + 1, labels.index(a), x1, y1, x2, y2)
                          for f, rows in frames.items()
                          for _, x1, y1, x2, y2, actions in rows
                          for a in actions)
        got = sorted(
            (int(row[0]), label) + tuple(round(float(c), 3) for c in row[1:])
            for label, tubes in ref['gttubes'][v].items() for tube in tubes
            for row in tube)
        assert got == expected, v
    assert ref['train_videos'] == [[
        'syn_train_000', 'syn_train_002', 'syn_train_003'
    ]]
    cfg, ds = _build(tmp_path / 'cvat' / 'config.py')
    assert type(ds['train_dataloader']).__name__ == 'TubeDataset'
    assert len(ds['val_dataloader']) == FPS * SECONDS
    assert ds['train_dataloader'][0]['inputs'].shape[1] == 8


def test_tubes_multi_label_error(exports, tmp_path, capsys):
    err = run(
        'cvat',
        exports,
        tmp_path / 'o',
        '--layout',
        'tubes',
        ok=False,
        capsys=capsys).err
    assert 'track' in err and 'output frame 1' in err and \
        '--multi-label split' in err
    # the run failed after writing frames: nothing is left (no out dir, no
    # staging folder beside it)
    assert sorted(os.listdir(tmp_path)) == []
    run('cvat',
        exports,
        tmp_path / 'o',
        '--layout',
        'tubes',
        '--multi-label',
        'split',
        capsys=capsys)
    assert (tmp_path / 'o' / 'annotations' / 'tubes_GT.pkl').is_file()
    # a failed --overwrite run leaves the earlier import exactly as it was
    before = file_states(str(tmp_path / 'o'))
    contents = {
        rel: (tmp_path / 'o' / rel).read_bytes()
        for rel in before if not rel.endswith('.jpg')
    }
    run('cvat',
        exports,
        tmp_path / 'o',
        '--layout',
        'tubes',
        '--overwrite',
        ok=False,
        capsys=capsys)
    assert file_states(str(tmp_path / 'o')) == before
    assert all((tmp_path / 'o' / rel).read_bytes() == data
               for rel, data in contents.items())
    assert sorted(os.listdir(tmp_path)) == ['o']


def test_fps_interval_and_resize(exports, tmp_path, capsys):
    run('csv',
        exports,
        tmp_path / 'o',
        '--keyframe-interval',
        '2',
        '--short-side',
        '64',
        capsys=capsys)
    args = [
        'csv', exports['csv_in'], '--videos', exports['videos'], '--out-dir',
        str(tmp_path / 'half'), '--fps', '8', '--val-videos', 'syn_train_001'
    ]
    assert tool.main(args) == 0
    truth = exports['truth_data']
    expected = truth_rows(truth, ['syn_train_001'], interval=2)
    key = (lambda r: (r.split(',')[0], r.split(',')[1], int(r.split(',')[7])))
    got = read_lines(tmp_path / 'o' / 'annotations' / 'val.csv')
    assert sorted(got, key=key) == sorted(expected, key=key)
    frames = os.listdir(tmp_path / 'o' / 'rawframes' / 'syn_train_001')
    assert len(frames) == FPS * SECONDS
    import cv2
    img = cv2.imread(
        str(tmp_path / 'o' / 'rawframes' / 'syn_train_001' / 'img_00000.jpg'))
    assert img.shape[:2] == (64, 96)
    # at 8 fps the keyframes are the same moments: the same rows
    half = read_lines(tmp_path / 'half' / 'annotations' / 'val.csv')
    assert sorted(
        half, key=key) == sorted(
            truth_rows(truth, ['syn_train_001']), key=key)
    assert len(os.listdir(tmp_path / 'half' / 'rawframes' /
                          'syn_train_001')) == 8 * SECONDS


def test_out_dir_and_overwrite(exports, tmp_path, capsys):
    out = tmp_path / 'o'
    out.mkdir()
    (out / 'mine.txt').write_text('x')
    err = run('csv', exports, out, ok=False, capsys=capsys).err
    assert 'not empty' in err and '--overwrite' in err
    # --overwrite without a manifest deletes nothing
    err = run('csv', exports, out, '--overwrite', ok=False, capsys=capsys).err
    assert 'manifest' in err
    os.remove(out / 'mine.txt')
    run('csv', exports, out, capsys=capsys)
    (out / 'mine.txt').write_text('x')
    stale = out / 'rawframes' / 'syn_train_000' / 'img_00000.jpg'
    assert stale.exists()
    run('csv', exports, out, '--overwrite', '--fps', '8', capsys=capsys)
    assert (out / 'mine.txt').read_text() == 'x'  # not ours: kept
    n = len(os.listdir(out / 'rawframes' / 'syn_train_000'))
    assert n == 8 * SECONDS  # the 16-fps frames were removed


def _copy(exports, tmp_path):
    """A writable copy of the videos and exports."""
    root = tmp_path / 'copy'
    shutil.copytree(osp.dirname(exports['videos']), root)
    return {
        'videos': str(root / 'videos'),
        'cvat_in': str(root / 'cvat'),
        'label-studio_in': str(root / 'label_studio.json'),
        'csv_in': str(root / 'annotations.csv'),
    }


def _edit(path, old, new, count=1):
    with open(path) as f:
        text = f.read()
    assert old in text
    with open(path, 'w') as f:
        f.write(text.replace(old, new, count))


def test_bad_inputs(exports, tmp_path, capsys):
    ex = _copy(exports, tmp_path)
    out = tmp_path / 'o'

    def fails(fmt, *extra):
        return run(fmt, ex, out, *extra, ok=False, capsys=capsys).err

    # a box outside the frame: file, row, box and frame size
    def set_x2(value):
        lines = read_lines(ex['csv_in'])
        v, t, x1, y1, _, y2, _, p = lines[1].split(',')
        with open(ex['csv_in'], 'w') as f:
            for line in lines:
                r = line.split(',')
                if (r[0], r[1], r[7]) == (v, t, p):
                    r[4] = value
                f.write(','.join(r) + '\n')

    set_x2('197')
    err = fails('csv')
    assert 'annotations.csv, line 2: box' in err and '197.00' in err and \
        '192x128 frame' in err
    # an overshoot of at most 1 px is clipped
    set_x2('192.6')
    res = run('csv', ex, tmp_path / 'clip', capsys=capsys)
    assert 'note: 1 boxes overshot the frame by at most 1 px' in res.out
    summary = json.load(open(tmp_path / 'clip' / 'import_summary.json'))
    assert summary['boxes_clipped'] == 1
    # malformed XML / JSON: file and position
    xml = osp.join(ex['cvat_in'], 'syn_train_002.xml')
    _edit(xml, '</track>', '</trak>')
    err = fails('cvat')
    assert 'syn_train_002.xml, line' in err and 'malformed XML' in err
    _edit(ex['label-studio_in'], '"sequence"', '"sequence', 1)
    err = fails('label-studio')
    assert 'label_studio.json, line' in err and 'malformed JSON' in err
    # labels missing from --label-map
    lm = tmp_path / 'lm.txt'
    lm.write_text('stand\ncrouch\n')
    err = fails('csv', '--label-map', str(lm))
    assert 'are not in --label-map' in err and 'walk' in err
    # an --fps above the video's own
    err = fails('csv', '--fps', '25')
    assert '--fps 25 is above the frame rate 16.000' in err
    # an empty split
    err = run(
        'csv',
        ex,
        out,
        '--val-videos',
        *[f'syn_train_00{i}' for i in range(4)],
        ok=False,
        capsys=capsys).err
    assert 'train split is empty' in err


def test_missing_and_unannotated_videos(exports, tmp_path, capsys):
    ex = _copy(exports, tmp_path)
    out = tmp_path / 'o'
    extra = osp.join(ex['videos'], 'extra.mp4')
    shutil.copy(osp.join(ex['videos'], 'syn_train_000.mp4'), extra)
    err = run('csv', ex, out, ok=False, capsys=capsys).err
    assert "['extra']" in err and 'no annotations' in err and \
        '--skip-unannotated' in err
    res = run('csv', ex, out, '--skip-unannotated', capsys=capsys)
    assert 'extra.mp4 has no annotations: skipped' in res.out
    os.remove(extra)
    os.remove(osp.join(ex['videos'], 'syn_train_003.mp4'))
    err = run('csv', ex, tmp_path / 'o2', ok=False, capsys=capsys).err
    assert "videos ['syn_train_003'] are annotated" in err


def test_time_beyond_duration_and_person_clash(exports, tmp_path, capsys):
    ex = _copy(exports, tmp_path)
    lines = read_lines(ex['csv_in'])
    v, t, *rest = lines[1].split(',')
    with open(ex['csv_in'], 'a') as f:
        f.write(','.join([v, '9.5'] + rest) + '\n')
    err = run('csv', ex, tmp_path / 'o', ok=False, capsys=capsys).err
    assert f'line {len(lines) + 1}: time 9.5 s is beyond the duration' in err
    # a Label Studio keyframe beyond the video
    with open(ex['label-studio_in']) as f:
        tasks = json.load(f)
    region = tasks[0]['annotations'][0]['result'][0]
    seq = region['value']['sequence']
    seq[-1]['enabled'] = True
    seq.append(dict(seq[-1], frame=FPS * SECONDS + 5, enabled=False))
    with open(ex['label-studio_in'], 'w') as f:
        json.dump(tasks, f)
    err = run('label-studio', ex, tmp_path / 'o', ok=False, capsys=capsys).err
    # (found where the sequence is read, before anything is expanded)
    assert f"region '{region['id']}': sequence[{len(seq) - 1}] frame " \
        f'{FPS * SECONDS + 5} is beyond the {FPS * SECONDS} frames of the ' \
        'video' in err
    # two CVAT tracks with one person id at one frame
    xml = osp.join(ex['cvat_in'], 'syn_train_000.xml')
    with open(xml) as f:
        text = f.read()
    start = text.index('  <track id="0"')
    end = text.index('</track>', start) + len('</track>\n')
    clone = text[start:end].replace('<track id="0"', '<track id="7"')
    clone = clone.replace(
        'z_order="0">', 'z_order="0"><attribute name="person_id">0'
        '</attribute>')
    with open(xml, 'w') as f:
        f.write(text[:end] + clone + text[end:])
    err = run('cvat', ex, tmp_path / 'o', ok=False, capsys=capsys).err
    assert 'track id=7' in err and 'person id 0 is also given to' in err
    # a track with zero-area boxes
    with open(xml, 'w') as f:
        f.write(text.replace('xbr="', 'xbr="0" old="', 1))
    err = run('cvat', ex, tmp_path / 'o', ok=False, capsys=capsys).err
    assert 'zero-area' in err and 'track 0' in err and 'frame 0' in err


def test_cli_subprocess(exports, tmp_path):
    """The command line as the user types it (one run), from a folder
    outside the repository: the default base config is the shipped one
    whatever the working directory."""
    out = tmp_path / 'o'
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO)
    res = subprocess.run([
        sys.executable, TOOL, 'label-studio', exports['label_studio'],
        '--videos', exports['videos'], '--out-dir',
        str(out), '--fps', '16', '--val-ratio', '0.25', '--seed', '1'
    ],
                         cwd=str(tmp_path),
                         env=env,
                         capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr
    # started as the checkout's script: the checkout's train script, as
    # typed (a pip install's stmixer-import prints stmixer-train)
    assert f'train with: python {TOOL[:-len("data/import_annotations.py")]}' \
        f'train.py {out}/config.py' in res.stdout, res.stdout
    assert (out / 'config.py').is_file()
    cfg = Config.fromfile(str(out / 'config.py'))
    assert cfg.model.type == 'STMixer'
    assert (out / 'manifest.txt').is_file()
    summary = json.load(open(out / 'import_summary.json'))
    assert len(summary['splits']['val']) == 1


def test_label_map_and_normalized_csv(exports, tmp_path, capsys):
    ex = _copy(exports, tmp_path)
    truth = exports['truth_data']
    w, h = truth['width'], truth['height']
    lines = read_lines(ex['csv_in'])
    with open(ex['csv_in'], 'w') as f:
        f.write(lines[0] + '\n')
        for line in lines[1:]:
            v, t, x1, y1, x2, y2, a, p = line.split(',')
            f.write(f'{v},{t},{float(x1) / w},{float(y1) / h},'
                    f'{float(x2) / w},{float(y2) / h},{a},{p}\n')
    classes = sorted({
        a
        for v in truth['videos'].values()
        for rows in v.values()
        for r in rows
        for a in r[5]
    })
    lm = tmp_path / 'lm.pbtxt'
    # ids in reverse name order, with a gap and an unused class
    ids = {c: 2 * (len(classes) - i) for i, c in enumerate(classes)}
    lm.write_text(''.join(f'label {{\n  name: "{c}"\n  label_id: {i}\n}}\n'
                          for c, i in ids.items()) +
                  'label {\n  name: "unused"\n  label_id: 1\n}\n')
    run('csv',
        ex,
        tmp_path / 'o',
        '--csv-box-units',
        'normalized',
        '--label-map',
        str(lm),
        capsys=capsys)
    got = read_lines(tmp_path / 'o' / 'annotations' / 'val.csv')
    by_name = {i + 1: c for i, c in enumerate(classes)}
    expected = []
    for row in truth_rows(truth, ['syn_train_001']):
        r = row.split(',')
        r[6] = str(ids[by_name[int(r[6])]])
        expected.append(','.join(r))
    key = (lambda r: (r.split(',')[0], r.split(',')[1], int(r.split(',')[7]),
                      int(r.split(',')[6])))
    assert sorted(got, key=key) == sorted(expected, key=key)
    cfg = Config.fromfile(str(tmp_path / 'o' / 'config.py'))
    assert cfg.val_evaluator.num_classes == 2 * len(classes) + 1
    assert cfg.model.roi_head.stage_head.num_actions == 2 * len(classes)
    # pixels read as normalised: every box is far outside the frame
    err = run(
        'csv',
        exports,
        tmp_path / 'o2',
        '--csv-box-units',
        'normalized',
        ok=False,
        capsys=capsys).err
    assert 'outside the 192x128 frame' in err


def test_keyframe_clip_centre_is_the_frame_at_its_time(exports, tmp_path,
                                                       capsys):
    """mmaction2's SampleAVAFrames, with the written config, centres the
    clip of timestamp T on the file that holds the video's frame at time T
    (at the video's own rate and at half of it)."""
    import av
    import cv2
    with av.open(osp.join(exports['videos'], 'syn_train_001.mp4')) as c:
        video = [f.to_ndarray(format='bgr24') for f in c.decode(video=0)]
    unique = 0
    for fps in (FPS, FPS // 2):
        out = tmp_path / f'o{fps}'
        run('csv', exports, out, '--fps', str(fps), capsys=capsys)
        cfg = Config.fromfile(str(out / 'config.py'))
        init_default_scope('mmaction')
        ds = DATASETS.build(cfg.val_dataloader.dataset)
        sample_frames = ds.pipeline.transforms[0]
        assert type(sample_frames).__name__ == 'SampleAVAFrames'
        for i in range(len(ds)):
            info = ds.get_data_info(i)
            T = info['timestamp']
            inds = sample_frames(dict(info))['frame_inds']
            centre = int(inds[sample_frames.clip_len // 2])
            img = cv2.imread(
                osp.join(info['frame_dir'],
                         ds.filename_tmpl.format(centre))).astype(float)
            diffs = {
                f: np.abs(img - video[f]).mean()
                for f in range(
                    max(0, FPS * T - 2), min(len(video), FPS * T + 3))
            }
            best = min(diffs.values())
            assert diffs[FPS * T] == best, (fps, T, diffs)
            assert best < 3  # JPEG noise only
            # where the actors move, no neighbour frame matches as well
            unique += sum(d == best for d in diffs.values()) == 1
    assert unique >= 4, unique


def test_videos_of_different_lengths(exports, tmp_path, capsys):
    """A shorter video gets copies of its last frame up to the split's
    timestamp_end * fps files; the dataset builds and samples it."""
    import av
    import cv2
    ex = _copy(exports, tmp_path)
    path = osp.join(ex['videos'], 'syn_train_002.mp4')
    with av.open(path) as c:
        frames = [f.to_ndarray(format='bgr24') for f in c.decode(video=0)]
    keep = 40  # 2.5 s
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), FPS,
                             (frames[0].shape[1], frames[0].shape[0]))
    for img in frames[:keep]:
        writer.write(img)
    writer.release()
    lines = read_lines(ex['csv_in'])
    with open(ex['csv_in'], 'w') as f:
        for line in lines:
            r = line.split(',')
            if r[0] != 'syn_train_002.mp4' or float(r[1]) * FPS < keep:
                f.write(line + '\n')
    out = tmp_path / 'o'
    run('csv', ex, out, capsys=capsys)
    summary = json.load(open(out / 'import_summary.json'))
    short = summary['videos']['syn_train_002']
    assert short['frames'] == keep and short['keyframes'] == 3
    assert short['padded_frames'] == FPS * SECONDS - keep
    assert summary['videos']['syn_train_000']['padded_frames'] == 0
    folder = out / 'rawframes' / 'syn_train_002'
    assert len(os.listdir(folder)) == FPS * SECONDS
    last = os.stat(folder / f'img_{keep - 1:05d}.jpg')
    pad = os.stat(folder / f'img_{FPS * SECONDS - 1:05d}.jpg')
    assert (pad.st_ino, pad.st_size) == (last.st_ino, last.st_size)
    _, ds = _build(out / 'config.py')
    train = ds['train_dataloader']
    idx = [
        i for i in range(len(train))
        if train.get_data_info(i)['video_id'] == 'syn_train_002'
    ]
    assert len(idx) == 3
    assert train[idx[-1]]['inputs'].shape[1] == 8


def _import_quietly(fmt, ex, out):
    """``import_annotations`` of the ``fmt`` export of ``ex`` (the library
    call, without its log)."""
    from stmixer_mm.apps.importers import importer
    return importer.import_annotations(
        fmt,
        ex[f'{fmt}_in'],
        ex['videos'],
        str(out),
        fps=FPS,
        val_videos=['syn_train_001'],
        log=lambda *a: None)


def test_estimated_frame_count_checked_after_decoding(exports, tmp_path,
                                                      monkeypatch):
    """A container without a frame count (estimated from its duration):
    frames beyond the decoded video are found after decoding."""
    from stmixer_mm.apps.importers import importer
    real = importer.probe_video

    def estimated(path, *args, **kwargs):
        info = real(path, *args, **kwargs)
        info.num_frames += 10
        info.frames_exact = False
        return info

    monkeypatch.setattr(importer, 'probe_video', estimated)
    ex = _copy(exports, tmp_path)
    with open(ex['label-studio_in']) as f:
        tasks = json.load(f)
    seq = tasks[0]['annotations'][0]['result'][0]['value']['sequence']
    seq.append(dict(seq[-1], frame=FPS * SECONDS + 3, enabled=False))
    with open(ex['label-studio_in'], 'w') as f:
        json.dump(tasks, f)
    with pytest.raises(
            ValueError,
            match=rf'video frame {FPS * SECONDS + 2} \(0-based\) '
            rf'is beyond the {FPS * SECONDS} frames decoded'):
        _import_quietly('label-studio', ex, tmp_path / 'o')


def test_cvat_task_with_start_frame_and_step(exports, tmp_path, capsys):
    """A CVAT task that starts at frame 16 and takes every 2nd frame, as
    CVAT writes it (box frames absolute: 16, 18, ...): the imported
    keyframe rows are the truth's at those video frames (they were mapped
    through 16 + 2 * frame and refused as beyond the video)."""
    import xml.etree.ElementTree as ET
    ex = _copy(exports, tmp_path)
    path = osp.join(ex['cvat_in'], 'syn_train_000.xml')
    tree = ET.parse(path)
    task = tree.getroot().find('meta').find('task')
    task.find('start_frame').text = '16'
    task.find('frame_filter').text = 'step=2'
    for track in tree.getroot().findall('track'):
        for box in track.findall('box'):
            frame = int(box.get('frame'))
            if frame < 16 or frame % 2:
                track.remove(box)
    tree.write(path)
    run('cvat', ex, tmp_path / 'o', capsys=capsys)
    rows = [
        r for r in read_lines(tmp_path / 'o' / 'annotations' / 'train.csv')
        if r.startswith('syn_train_000,')
    ]
    expected = [
        r for r in truth_rows(exports['truth_data'], ['syn_train_000'])
        if int(r.split(',')[1]) >= 1  # frame 16 * T, T >= 1
    ]
    assert expected and sorted(rows) == sorted(expected)


def test_rows_beyond_the_decoded_video_are_an_error(exports, tmp_path,
                                                    monkeypatch):
    """A container that promises more frames than it decodes (an AVI
    header of 32 frames over 12): CSV rows past the decoded end matched no
    frame and were dropped (exit 0); now an error naming the row, the
    decoded and the promised length."""
    from stmixer_mm.apps.importers import importer
    real = importer.probe_video

    def promising(path, *args, **kwargs):
        info = real(path, *args, **kwargs)
        info.num_frames += 2 * FPS  # the header claims 2 s more
        info.duration += 2
        return info

    monkeypatch.setattr(importer, 'probe_video', promising)
    ex = _copy(exports, tmp_path)
    with open(ex['csv_in']) as f:
        rows = f.read().splitlines()
    first = rows[1].split(',')
    first[1] = f'{SECONDS + 1}.0'  # inside the promised 6 s, past 4 s
    with open(ex['csv_in'], 'a') as f:
        f.write(','.join(first) + '\n')
    with pytest.raises(
            ValueError,
            match=rf'line {len(rows) + 1}: time {SECONDS + 1} s is beyond '
            rf'the {SECONDS}.000 s \({FPS * SECONDS} frames\) decoded from '
            rf'.*promised {FPS * (SECONDS + 2)} frames'):
        _import_quietly('csv', ex, tmp_path / 'o')


def test_user_base_config_by_absolute_path(exports, tmp_path, capsys):
    """A base config of the user's own is named by its absolute path, so
    the written config still loads after a move."""
    from stmixer_mm.apis.package_files import package_config
    from stmixer_mm.apps.importers.importer import DEFAULT_BASE_CONFIGS
    mine = tmp_path / 'mine' / 'base.py'
    mine.parent.mkdir()
    mine.write_text(
        f"_base_ = ['{package_config(DEFAULT_BASE_CONFIGS['ava'])}']"
        "\ntrain_cfg = dict(max_epochs=3)\n")
    run('csv',
        exports,
        tmp_path / 'o',
        '--base-config',
        str(mine),
        capsys=capsys)
    moved = tmp_path / 'moved.py'
    os.replace(tmp_path / 'o' / 'config.py', moved)
    assert repr(str(mine.resolve())) in moved.read_text()
    cfg = Config.fromfile(str(moved))
    assert cfg.train_cfg.max_epochs == 3


def test_a_user_file_in_the_way_is_not_overwritten(exports, tmp_path, capsys):
    """A file the import would write that an earlier import did not write
    (not in the manifest) stops the import; nothing changes."""
    out = tmp_path / 'o'
    run('csv', exports, out, capsys=capsys)
    manifest = (out / 'manifest.txt').read_text().splitlines()
    manifest.remove('config.py')  # as if the user had put config.py there
    (out / 'manifest.txt').write_text(''.join(f'{m}\n' for m in manifest))
    (out / 'config.py').write_text('# mine\n')
    before = file_states(str(out))
    err = run('csv', exports, out, '--overwrite', ok=False, capsys=capsys).err
    assert 'config.py exists and is not listed in' in err, err
    assert file_states(str(out)) == before
    assert (out / 'config.py').read_text() == '# mine\n'


def test_single_video(exports, tmp_path, capsys):
    """One annotated video is in both splits, with a warning saying what
    the val metric then means (its CSV without a header line)."""
    ex = _copy(exports, tmp_path)
    for name in os.listdir(ex['videos']):
        if not name.startswith('syn_train_000'):
            os.remove(osp.join(ex['videos'], name))
    lines = read_lines(ex['csv_in'])
    with open(ex['csv_in'], 'w') as f:
        # (and without the header line)
        f.write(''.join(f'{line}\n' for line in lines
                        if line.startswith('syn_train_000.')))
    out = tmp_path / 'o'
    assert tool.main([
        'csv', ex['csv_in'], '--videos', ex['videos'], '--out-dir',
        str(out), '--fps',
        str(FPS), '--csv-no-header'
    ]) == 0
    log = capsys.readouterr().out
    assert 'warning: one annotated video' in log and 'val' in log
    ann = out / 'annotations'
    train = read_lines(ann / 'train.csv')
    assert train and read_lines(ann / 'val.csv') == train

    # the truth's rows (class ids aside: this video has fewer classes)
    def drop_label(rows):
        return sorted(
            r.rsplit(',', 2)[0] + ',' + r.rsplit(',', 1)[1] for r in rows)

    assert drop_label(train) == drop_label(
        truth_rows(exports['truth_data'], ['syn_train_000']))
    summary = json.load(open(out / 'import_summary.json'))
    assert summary['splits'] == dict(
        train=['syn_train_000'], val=['syn_train_000'])
    assert summary['videos']['syn_train_000']['split'] == 'train+val'
    _, ds = _build(out / 'config.py')
    assert len(ds['train_dataloader']) == len(ds['val_dataloader']) == SECONDS


def _as_cvat_for_images(folder, person_ids, start=0, step=1):
    """Rewrite each "CVAT for video" XML of ``folder`` as CVAT's "CVAT for
    images 1.1" export of the same video task (``start`` frame, frame
    ``step``) writes it: an ``<image id=k>`` per task frame ``k``, named
    after its absolute frame (``frame_NNNNNN``), the tracks split into
    per-frame ``<box label>`` elements (outside boxes dropped, no track
    id); ``person_ids``: each box keeps its person as a ``person_id``
    attribute."""
    import xml.etree.ElementTree as ET
    for name in os.listdir(folder):
        path = osp.join(folder, name)
        root = ET.parse(path).getroot()
        task = root.find('meta').find('task')
        size = task.find('original_size')
        w, h = size.find('width').text, size.find('height').text
        task.remove(size)
        task.find('mode').text = 'annotation'
        task.find('start_frame').text = str(start)
        task.find('frame_filter').text = f'step={step}' if step > 1 else ''
        per_frame = {}
        for track in root.findall('track'):
            for box in track.findall('box'):
                if box.get('outside') == '1':
                    continue
                el = ET.Element(
                    'box',
                    dict(
                        label=track.get('label'),
                        source='manual',
                        occluded='0',
                        z_order='0',
                        **{
                            k: box.get(k)
                            for k in ('xtl', 'ytl', 'xbr', 'ybr')
                        }))
                el.extend(box.findall('attribute'))
                if person_ids:
                    ET.SubElement(
                        el, 'attribute',
                        name='person_id').text = track.get('id')
                per_frame.setdefault(int(box.get('frame')), []).append(el)
            root.remove(track)
        stop = int(task.find('stop_frame').text)
        for k, frame in enumerate(range(start, stop + 1, step)):
            image = ET.SubElement(
                root,
                'image',
                id=str(k),
                name=f'frame_{frame:06d}',
                width=w,
                height=h)
            image.extend(per_frame.get(frame, []))
        ET.ElementTree(root).write(
            path, encoding='utf-8', xml_declaration=True)


def _without_person(rows):
    return sorted(r.rsplit(',', 1)[0] for r in rows)


def test_cvat_for_images_export_of_a_video_task(exports, tmp_path, capsys):
    """"CVAT for images" exports of the video tasks: frames from the image
    names (a task from frame 16, every 2nd frame: image k is frame 16 +
    2k), the truth's AVA rows (with person_id attributes: the very rows;
    without: ids per frame, a note, and the tube layout refused with the
    reason)."""
    truth = exports['truth_data']
    train = ['syn_train_000', 'syn_train_002', 'syn_train_003']
    expected = truth_rows(truth, train)
    for person_ids in (True, False):
        ex = _copy(exports, tmp_path / str(person_ids))
        _as_cvat_for_images(ex['cvat_in'], person_ids,
                            *((16, 2) if person_ids else ()))
        out = tmp_path / str(person_ids) / 'o'
        log = run('cvat', ex, out, capsys=capsys).out
        rows = read_lines(out / 'annotations' / 'train.csv')
        if person_ids:  # keyframes T >= 1 (frames 16 T) are in the task
            assert sorted(rows) == sorted(
                r for r in expected if int(r.split(',')[1]) >= 1)
            assert 'ids are numbered per frame' not in log
            continue
        assert _without_person(rows) == _without_person(expected)
        assert 'ids are numbered per frame' in log
        err = run(
            'cvat',
            ex,
            tmp_path / 'tubes',
            '--layout',
            'tubes',
            ok=False,
            capsys=capsys).err
        assert 'a tube is one person over time' in err, err
    # an image task (file names, not video frames) is refused
    ex = _copy(exports, tmp_path / 'images')
    _as_cvat_for_images(ex['cvat_in'], True)
    _edit(
        osp.join(ex['cvat_in'], 'syn_train_000.xml'), 'frame_000003',
        'IMG_0003.jpg')
    err = run('cvat', ex, tmp_path / 'img', ok=False, capsys=capsys).err
    assert "name='IMG_0003.jpg'>: not a video frame name" in err, err


def test_cvat_project_export_of_the_video_tasks(exports, tmp_path, capsys):
    """The four per-video exports merged into one project export as CVAT's
    ``ProjectData`` writes it (tasks by subset, then id; frame numbers
    after those of the subset's earlier tasks; tracks with ``task_id`` and
    a running id): the rows equal the truth's, person ids aside."""
    import xml.etree.ElementTree as ET
    ex = _copy(exports, tmp_path)
    subsets = dict(
        syn_train_000='Train',
        syn_train_001='Validation',
        syn_train_002='Train',
        syn_train_003='Train')
    order = sorted(subsets, key=lambda v: (subsets[v], v))
    root = ET.Element('annotations')
    ET.SubElement(root, 'version').text = '1.1'
    project = ET.SubElement(ET.SubElement(root, 'meta'), 'project')
    tasks = ET.SubElement(project, 'tasks')
    offset, subset, tracks = 0, None, []
    for task_id, video in enumerate(order, 1):
        doc = ET.parse(osp.join(ex['cvat_in'], f'{video}.xml')).getroot()
        task = doc.find('meta').find('task')
        task.find('id').text = str(task_id)
        ET.SubElement(task, 'subset').text = subsets[video]
        ET.SubElement(task, 'source').text = f'{video}.mp4'
        tasks.append(task)
        if subsets[video] != subset:
            offset, subset = 0, subsets[video]
        for track in doc.findall('track'):
            track.set('id', str(len(tracks)))  # CVAT's running counter
            track.set('task_id', str(task_id))
            track.set('subset', subsets[video])
            for box in track.findall('box'):
                box.set('frame', str(int(box.get('frame')) + offset))
            tracks.append(track)
        offset += int(task.find('size').text)  # start 0, step 1
        os.remove(osp.join(ex['cvat_in'], f'{video}.xml'))
    root.extend(tracks)
    ex['cvat_in'] = osp.join(ex['cvat_in'], 'annotations.xml')
    ET.ElementTree(root).write(
        ex['cvat_in'], encoding='utf-8', xml_declaration=True)
    assert offset > 0 and max(int(b.get('frame'))
                              for b in root.iter('box')) >= FPS * SECONDS
    out = tmp_path / 'o'
    run('cvat', ex, out, capsys=capsys)
    truth = exports['truth_data']
    train = ['syn_train_000', 'syn_train_002', 'syn_train_003']
    for split, vids in (('train', train), ('val', ['syn_train_001'])):
        rows = read_lines(out / 'annotations' / f'{split}.csv')
        # person ids: the project's running track ids (the truth's ids
        # renumbered, one per track)
        assert _without_person(rows) == _without_person(
            truth_rows(truth, vids)), split
        pairs = {(r.split(',')[0], r.split(',')[-1]) for r in rows}
        assert len(pairs) == len({p for _, p in pairs})  # one video each


def test_config_base_without_the_package_mim_folder(monkeypatch, tmp_path):
    """Where mmengine cannot find `stmixer_mm::` (a source tree on
    PYTHONPATH without stmixer_mm/.mim), the base is named by its absolute
    path."""
    from stmixer_mm.apis.package_files import package_config
    from stmixer_mm.apps.importers.importer import DEFAULT_BASE_CONFIGS
    from stmixer_mm.apps.importers.layouts import config_base
    base = package_config(DEFAULT_BASE_CONFIGS['ava'])
    assert config_base(base).startswith('stmixer_mm::quickstart/')
    from stmixer_mm.apps.importers import layouts
    root = layouts.models_dir()  # the checkout's configs stay where they are
    monkeypatch.setattr(layouts, 'models_dir', lambda: root)
    # the package as imported from a folder without .mim/
    monkeypatch.setattr(layouts, 'package_dir',
                        lambda: str(tmp_path / 'stmixer_mm'))
    assert config_base(base) == osp.realpath(base)


@pytest.mark.parametrize('layout, base, why', [
    ('ava', 'missing.py', 'no such file'),
    ('ava', 'notes.txt', 'not a config file'),
    ('ava', 'broken.py', 'could not be read: SyntaxError'),
    ('ava', 'no_model.py', 'no model.type'),
    ('ava', 'tubes', "train_dataloader.dataset.type is 'TubeDataset'"),
    ('tubes', 'ava', "train_dataloader.dataset.type is 'AVAActorDataset'"),
])
def test_base_config_is_checked_before_anything_is_written(
        exports, tmp_path, capsys, layout, base, why):
    """A --base-config that is missing, not a config, broken, without a
    model or of the other layout exited 0 with "train with" (training then
    failed): it is refused first, naming the file and what was expected."""
    from stmixer_mm.apis.package_files import package_config
    from stmixer_mm.apps.importers.importer import DEFAULT_BASE_CONFIGS
    texts = {
        'notes.txt': 'x\n',
        'broken.py': 'a = (\n',
        'no_model.py': 'train_cfg = dict(max_epochs=1)\n'
    }
    path = str(tmp_path / base)
    if base in DEFAULT_BASE_CONFIGS:
        path = package_config(DEFAULT_BASE_CONFIGS[base])
    elif base in texts:
        (tmp_path / base).write_text(texts[base])
    captured = run(
        'csv',
        exports,
        tmp_path / 'o',
        '--layout',
        layout,
        '--base-config',
        path,
        ok=False,
        capsys=capsys)
    assert captured.err.startswith(
        command_error(f'--base-config {path}: {why}')), \
        captured.err
    assert f'expected a config of the {layout} layout' in captured.err
    assert 'train with' not in captured.out
    assert not (tmp_path / 'o').exists()


@pytest.mark.parametrize('base, why', [
    ('extra', " does not build: train_dataloader.dataset: TypeError: "
     "BaseDataset.__init__() got an unexpected keyword argument 'foo' (the "
     'part refused its settings when built)'),
    ('metrics', ': could not be read: TypeError: val_evaluator='),
])
def test_the_written_config_loads_and_builds_before_train_with(
        exports, tmp_path, capsys, base, why):
    """A base of the right layout whose merge with the written config does
    not load (a list of metrics, as the actor masks project's config has)
    or build (a dataset argument the AVA dataset does not take) stops the
    import before anything is moved into --out-dir."""
    from stmixer_mm.apis.package_files import package_config
    from stmixer_mm.apps.importers.importer import DEFAULT_BASE_CONFIGS
    path = tmp_path / f'{base}.py'
    path.write_text(
        f"_base_ = ['{package_config(DEFAULT_BASE_CONFIGS['ava'])}']\n" + dict(
            extra='train_dataloader = dict(dataset=dict(foo=1))\n',
            metrics="val_evaluator = [dict(type='AVAMetric')] * 2\n")[base])
    base = str(path)
    captured = run(
        'csv',
        exports,
        tmp_path / 'o',
        '--base-config',
        base,
        ok=False,
        capsys=capsys)
    assert f'error: the config written from --base-config {base}{why}' in \
        captured.err, captured.err
    assert 'train with' not in captured.out
    assert not (tmp_path / 'o').exists()


def test_overwrite_refuses_a_manifest_it_did_not_write(exports, tmp_path,
                                                       capsys):
    """--overwrite over a manifest listing an absolute path printed a raw
    ValueError traceback (a '..' path, undecodable bytes, a NUL likewise;
    a folder was taken): each is an error line naming the manifest and the
    entry, and nothing is deleted."""
    out = tmp_path / 'o'
    run('csv', exports, out, capsys=capsys)
    manifest = out / 'manifest.txt'
    written = manifest.read_bytes()
    for extra, why in [
        (b'/etc/passwd\n', "'/etc/passwd' is not a relative path"),
        (b'../x.txt\n', "'../x.txt' is outside"),
        (b'a\0b\n', "'a\\x00b' is not a relative path"),
        (b'rawframes/../config.py\n', "'rawframes/../config.py' is not a "
         'normalised path'),
        (b'rawframes\n', "'rawframes' is a folder"),
        (b'\xff\xfe\n', 'cannot be read as a list of paths'),
    ]:
        manifest.write_bytes(written + extra)
        before = file_states(str(out))
        err = run(
            'csv', exports, out, '--overwrite', ok=False, capsys=capsys).err
        assert err.startswith(command_error(manifest)) and why in err, err
        assert 'nothing was deleted' in err and 'Traceback' not in err
        assert file_states(str(out)) == before


SLOW_IMPORT = '''
import sys, time
from stmixer_mm.apps.cli import import_annotations as tool
from stmixer_mm.apps.importers import importer
extract = importer.extract_frames
def slow(*args, **kwargs):
    done = extract(*args, **kwargs)
    time.sleep(120)  # stopped here, frames staged
    return done
importer.extract_frames = slow
sys.exit(tool.main(sys.argv[1:]))
'''


def test_sigterm_cleans_up_and_a_killed_runs_staging_is_named(
        exports, tmp_path, capsys):
    """SIGTERM (a timeout, docker stop, Slurm) removes the staging folder
    as Ctrl-C does (exit 143, an error line); a staging folder of a killed
    run (its pid gone, this host) is removed by the next import, which
    says so, and one it cannot be sure of is named and left."""
    import glob
    import signal
    import socket
    out = tmp_path / 'o'
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO)
    proc = subprocess.Popen([
        sys.executable, '-c', SLOW_IMPORT, 'csv', exports['csv'], '--videos',
        exports['videos'], '--out-dir',
        str(out), '--fps',
        str(FPS)
    ],
                            env=env,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            text=True)
    try:
        staged, deadline = [], time.time() + 120
        while not staged and time.time() < deadline:
            time.sleep(0.2)
            staged = glob.glob(str(out / '.staging-*' / 'rawframes' / '*'))
        assert staged, proc.poll()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    assert 'error: stopped by SIGTERM before the import was complete' in err
    assert 'Traceback' not in err
    assert not out.exists()  # the staging folder and the folder it made
    host = socket.gethostname()
    killed = osp.relpath(staged[0], out).split(os.sep)[0]
    assert killed.startswith(f'.staging-{proc.pid}@{host}-'), killed
    # what SIGKILL leaves (that pid is gone now), and folders of runs that
    # may still write: a live pid, another host, a name without a pid
    unsure = [
        f'.staging-{os.getpid()}@{host}-live0000',
        '.staging-1@another-host-abcd1234', '.staging-x0y1z2w3'
    ]
    for name in [killed] + unsure:
        os.makedirs(out / name / 'rawframes')
    captured = run('csv', exports, out, capsys=capsys)
    assert f'note: removed {out / killed}, left by a run that was killed ' \
        f'(pid {proc.pid} is gone)' in captured.out
    for name, why in zip(unsure, [
            f'pid {os.getpid()}, is running', 'on another-host, cannot be '
            'checked', 'unknown'
    ]):
        line = [
            line for line in captured.out.splitlines()
            if line.startswith(f'warning: {out / name} is the staging '
                               'folder of another run; its run')
        ]
        assert line and why in line[0], captured.out
        assert (out / name).is_dir()
    assert not (out / killed).exists() and (out / 'config.py').is_file()


def test_tubes_with_a_video_in_both_splits_train(exports, tmp_path, capsys):
    """``--val-ratio 0`` (and one annotated video) puts the videos in both
    splits, as documented; in the tube layout the written config trained
    nothing: TubeDataset refused the overlap. It now says
    videos_in_both_splits='allow' and both splits build."""
    out = tmp_path / 'o'
    assert tool.main([
        'cvat', exports['cvat_in'], '--videos', exports['videos'], '--out-dir',
        str(out), '--fps',
        str(FPS), '--layout', 'tubes', '--multi-label', 'split', '--val-ratio',
        '0'
    ]) == 0
    assert 'warning: --val-ratio 0' in capsys.readouterr().out
    text = (out / 'config.py').read_text()
    assert "videos_in_both_splits='allow'" in text
    _, ds = _build(out / 'config.py')
    train, val = ({d.get_data_info(i)['video_id']
                   for i in range(len(d))}
                  for d in (ds['train_dataloader'], ds['val_dataloader']))
    assert train == val and len(train) == 4, (train, val)
    # with separate splits the default (a leak is an error) is kept
    run('cvat',
        exports,
        tmp_path / 'p',
        '--layout',
        'tubes',
        '--multi-label',
        'split',
        capsys=capsys)
    assert 'videos_in_both_splits' not in (tmp_path / 'p' /
                                           'config.py').read_text()


def _stepped_task(ex, start, step, video='syn_train_000'):
    """Make the CVAT task of ``video`` one from frame ``start`` taking
    every ``step``-th frame, as CVAT exports it (boxes on those absolute
    frames only)."""
    import xml.etree.ElementTree as ET
    path = osp.join(ex['cvat_in'], f'{video}.xml')
    tree = ET.parse(path)
    task = tree.getroot().find('meta').find('task')
    task.find('start_frame').text = str(start)
    task.find('frame_filter').text = f'step={step}'
    for track in tree.getroot().findall('track'):
        for box in track.findall('box'):
            frame = int(box.get('frame'))
            if frame < start or (frame - start) % step:
                track.remove(box)
    tree.write(path)


def _tube_rows(out, video):
    gt = load_act_annotations(str(out / 'annotations' / 'tubes_GT.pkl'))
    return {
        label: sorted(tuple(np.round(row, 3)) for t in tubes for row in t)
        for label, tubes in gt['gttubes'][video].items()
    }, gt['gttubes'][video]


def test_cvat_stepped_task_in_the_tube_layout(exports, tmp_path, capsys):
    """Issue 60: a CVAT task with step=2 in the tube layout gave one-frame
    tubes at the video's fps (every other output frame had no box). It is
    refused with the --fps that makes the output frames the task's frames,
    and at that --fps the tubes follow the task's frames: those of the
    full export at that --fps from the task's start on."""
    ex = _copy(exports, tmp_path)
    _stepped_task(ex, 16, 2)
    tubes = ('--layout', 'tubes', '--multi-label', 'split')
    err = run('cvat', ex, tmp_path / 'a', *tubes, ok=False, capsys=capsys).err
    assert ("syn_train_000.xml: video 'syn_train_000': the CVAT task "
            'annotates the video frames 16, 18, 20, ...') in err, err
    assert ('output frame 17 (0-based; ACT frame 18) at --fps 16 is source '
            'frame 17') in err, err
    assert 'every tube breaks at it' in err and 'pass --fps 8:' in err, err
    run('cvat', ex, tmp_path / 'b', *tubes, '--fps', '8', capsys=capsys)
    run('cvat', exports, tmp_path / 'full', *tubes, '--fps', '8', ok=True)
    rows, got = _tube_rows(tmp_path / 'b', 'syn_train_000')
    full, full_tubes = _tube_rows(tmp_path / 'full', 'syn_train_000')
    # output frame k is source frame 2k: the task's frames 16, 18, ... are
    # output frames 8, 9, ... (ACT frames 9, 10, ...)
    assert rows == {
        label: [r for r in rs if r[0] >= 9]
        for label, rs in full.items() if any(r[0] >= 9 for r in rs)
    }
    # the full export's tubes cut at the task's start, not one-frame tubes
    lengths = sorted(len(t) for ts in got.values() for t in ts)
    assert lengths == sorted(
        int((t[:, 0] >= 9).sum()) for ts in full_tubes.values() for t in ts
        if t[-1, 0] >= 9), lengths
    assert min(lengths) > 1, lengths


def test_cvat_start_frame_off_the_output_grid(exports, tmp_path, capsys):
    """Issue 60: a task from frame 3 taking every 2nd frame, at --fps 8 on
    the 16 fps video (output frame k is source frame 2k, never a task
    frame): "has no annotated keyframe" (AVA) or no tubes, without the
    reason. Now both layouts name the grid and a start frame on it."""
    ex = _copy(exports, tmp_path)
    for video in ('syn_train_000', 'syn_train_001', 'syn_train_002',
                  'syn_train_003'):
        _stepped_task(ex, 3, 2, video)
    for layout, what in (('ava', 'the keyframe at 1 s (output frame 8) '
                          'at --fps 8 is source frame 16'),
                         ('tubes', 'output frame 2 (0-based; ACT frame 3) '
                          'at --fps 8 is source frame 4')):
        args = ('--layout', layout, '--multi-label', 'split', '--fps', '8')
        err = run(
            'cvat', ex, tmp_path / layout, *args, ok=False, capsys=capsys).err
        assert '(<start_frame>3, <stop_frame>' in err, err
        assert what in err, err
        assert ("the task's start frame 3 is off that output frame grid: "
                'recreate or re-export the task with a start frame on it '
                '(e.g. <start_frame>2)') in err, err
        assert 'has no annotated keyframe' not in err, err


def test_cvat_task_longer_than_its_video(exports, tmp_path, capsys):
    """Issue 60: a video shorter than its CVAT task's <stop_frame> (the
    task made from another, longer video) imported without a word; it is
    refused, naming the export, the stop frame and the video's length."""
    import xml.etree.ElementTree as ET
    ex = _copy(exports, tmp_path)
    path = osp.join(ex['cvat_in'], 'syn_train_000.xml')
    tree = ET.parse(path)
    task = tree.getroot().find('meta').find('task')
    task.find('stop_frame').text = str(FPS * SECONDS + 40)
    tree.write(path)
    err = run('cvat', ex, tmp_path / 'o', ok=False, capsys=capsys).err
    assert (f"syn_train_000.xml: video 'syn_train_000': the CVAT task runs "
            f'to <stop_frame>{FPS * SECONDS + 40}, beyond the '
            f'{FPS * SECONDS} frames') in err, err
    assert 'another (longer) video' in err, err
    assert not (tmp_path / 'o').exists()
