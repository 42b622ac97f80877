"""Configs by name (issue 84, point 2): one resolver
(:func:`~stmixer_mm.apis.config_files.resolve_config`) behind every
command and the Inferencer takes a config file,
``stmixer_mm::<folder>/<config>.py`` (from the installed package, whatever
the working directory) and the model names of the metafiles, with close
names for an unknown one; a repo config copied out alone reads its
``_base_`` from the package, or names the base it lacks."""
import os
import os.path as osp
import shutil
import warnings

import pytest

from stmixer_mm.apis import config_files, package_files
from stmixer_mm.apis.config_files import load_config, resolve_config
from stmixer_mm.apps.cli import test as test_cli
from stmixer_mm.apps.command_errors import command_error
from stmixer_mm.utils.checks import ConfigSettingError

QUICKSTART = 'stmixer_r3d-tiny_1xb8-8x2x1-36e_synthetic-ava-rgb'
PACKAGED = f'stmixer_mm::quickstart/{QUICKSTART}.py'


def test_a_packaged_config_and_a_model_name_resolve_to_the_file(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the checkout: no configs/ here
    path, weights, model = resolve_config(PACKAGED)
    assert path.endswith(f'configs/quickstart/{QUICKSTART}.py')
    assert osp.isfile(path) and weights is None and model is None
    by_name = resolve_config(QUICKSTART.upper())  # any case, as mim
    assert by_name.path == path and by_name.model == QUICKSTART
    # the package's pure-Python configs too (`_` for `-`)
    new_style = QUICKSTART.replace('-', '_')
    assert resolve_config(f'stmixer_mm::quickstart/{new_style}.py').path \
        .endswith(f'stmixer_mm/configs/quickstart/{new_style}.py')
    cfg = load_config(QUICKSTART)
    assert cfg.filename == path and cfg.model.type == 'STMixer'


@pytest.mark.parametrize('name, said, error', [
    ('stmixer_r3d-tiny_synthetic-ava', 'is neither a config file nor a '
     'model name of', ConfigSettingError),
    ('stmixer_mm::quickstart/stmixer_r3d-tiny_synthetic-ava.py',
     'stmixer_mm ships no quickstart/stmixer_r3d-tiny_synthetic-ava.py',
     FileNotFoundError),
    (f'configs/quickstart/{QUICKSTART}.py', 'no such file', FileNotFoundError),
])
def test_an_unknown_name_lists_the_close_ones(tmp_path, monkeypatch, name,
                                              said, error):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error) as e:
        resolve_config(name)
    assert said in str(e.value) and 'close names' in str(e.value)
    assert QUICKSTART in str(e.value)
    with pytest.raises(ConfigSettingError, match='mmdet:: is not this'):
        resolve_config('mmdet::faster_rcnn/x.py')


@pytest.mark.parametrize('rel, said', [
    ('{outside}', 'is an absolute path'),
    ('../setup.py', 'leads out of the packaged configs'),
    ('quickstart/../../setup.py', 'leads out of the packaged configs'),
    ('quickstart/../../../etc/passwd', 'leads out of the packaged configs'),
    ('', 'no config after stmixer_mm::'),
    ('.', 'no config after stmixer_mm::'),
])
def test_a_packaged_name_stays_in_the_packaged_configs(tmp_path, monkeypatch,
                                                       rel, said):
    """``stmixer_mm::`` names a config of the package's configs folder,
    not any file: an absolute path or one leading out of it (even to a
    file that exists) is refused, naming it and the expected form, by
    every command (load_config, tools/test.py)."""
    outside = tmp_path / 'outside.py'
    outside.write_text('x = 1\n')
    name = 'stmixer_mm::' + rel.format(outside=outside)
    monkeypatch.chdir(tmp_path)
    for call in (resolve_config, load_config):
        with pytest.raises(FileNotFoundError) as e:
            call(name)
        assert said in str(e.value), str(e.value)
        assert name in str(e.value) or repr(name) in str(e.value)
        assert 'expected stmixer_mm::<folder>/<config>.py' in str(e.value)
    with pytest.raises(SystemExit) as e:
        test_cli.main([name, 'no.pth'])
    assert said in str(e.value.code), e.value.code


def test_a_link_out_of_the_packaged_configs_is_refused(tmp_path, monkeypatch):
    """The real path counts: a link in the configs folder to a file
    outside it is refused; ``..`` that stays inside is read."""
    root = tmp_path / 'configs'
    (root / 'quickstart').mkdir(parents=True)
    (root / 'quickstart' / 'a.py').write_text('x = 1\n')
    (tmp_path / 'secret.py').write_text('x = 2\n')
    os.symlink(tmp_path / 'secret.py', root / 'quickstart' / 'link.py')
    monkeypatch.setattr(config_files, 'config_roots',
                        lambda *a, **k: [str(root)])
    assert resolve_config(
        'stmixer_mm::quickstart/../quickstart/a.py').path == str(
            root / 'quickstart' / 'a.py')
    with pytest.raises(
            FileNotFoundError,
            match=r'config stmixer_mm::quickstart/link.py: quickstart/link.py'
            r' is .*secret.py, outside the packaged configs folder'):
        resolve_config('stmixer_mm::quickstart/link.py')


def test_names_resolve_from_an_installed_copy(tmp_path, monkeypatch):
    """A wheel's package: ``stmixer_mm/.mim/{configs,model-index.yml}``
    (setup.py), no checkout beside it."""
    mim = tmp_path / 'site' / 'stmixer_mm' / '.mim'
    root = package_files.models_dir()
    for folder in ('quickstart', '_base_'):
        shutil.copytree(
            osp.join(root, 'configs', folder), mim / 'configs' / folder)
    (mim / 'model-index.yml'
     ).write_text('Import:\n  - configs/quickstart/metafile.yml\n')
    monkeypatch.setattr(package_files, 'package_dir', lambda: str(mim.parent))
    monkeypatch.chdir(tmp_path)
    want = str(mim / 'configs' / 'quickstart' / f'{QUICKSTART}.py')
    assert resolve_config(PACKAGED).path == want
    assert resolve_config(QUICKSTART).path == want
    assert load_config(PACKAGED).filename == want  # its bases in the copy


def test_a_config_copied_alone_reads_its_bases_from_the_package(tmp_path):
    src = resolve_config(PACKAGED).path
    copy = tmp_path / osp.basename(src)
    shutil.copy(src, copy)
    with pytest.warns(UserWarning) as caught:
        cfg = load_config(str(copy))
    said = ' '.join(str(w.message) for w in caught)
    assert '../_base_/models/stmixer_slowonly-r50.py' in said
    assert 'read from the packaged configs' in said
    assert cfg.filename == str(copy)
    assert cfg.model == load_config(src).model
    # a sibling base (./<config>.py) is found beside the same-named config
    fpn = resolve_config('stmixer-fpn_r3d-tiny_1xb8-8x2x1-36e_synthetic-'
                         'ava-rgb').path
    (tmp_path / 'alone').mkdir()
    shutil.copy(fpn, tmp_path / 'alone' / 'fpn.py')  # renamed too
    with pytest.warns(UserWarning, match=f'{QUICKSTART}.py are not beside'):
        cfg = load_config(str(tmp_path / 'alone' / 'fpn.py'))
    assert cfg.model.neck.neck.type == 'mmdet.FPN'
    # a base the package lacks too: named, with what to pass instead
    text = copy.read_text().replace('../_base_/schedules/adamw_12e.py',
                                    '../_base_/schedules/no_such.py')
    copy.write_text(text)
    with pytest.raises(FileNotFoundError) as e:
        load_config(str(copy))
    msg = str(e.value)
    assert "its _base_ '../_base_/schedules/no_such.py'" in msg
    assert osp.join(str(tmp_path.parent), '_base_', 'schedules',
                    'no_such.py') in msg
    assert f'give a packaged config as {PACKAGED}' in msg
    assert 'copy the config together with its _base_ folder' in msg


def test_tools_test_takes_a_packaged_config_and_a_model_name(
        tmp_path, monkeypatch):
    """``tools/test.py``'s argument parsing and config loading (not a run):
    the config of the name, the work dir named by its file."""
    monkeypatch.chdir(tmp_path)
    for name in (PACKAGED, QUICKSTART.upper()):
        args = test_cli.parse_args([name, 'epoch_1.pth', '--no-picture'])
        cfg = test_cli.merge_args(load_config(args.config), args)
        assert cfg.filename == resolve_config(PACKAGED).path
        assert cfg.load_from == 'epoch_1.pth'
        assert cfg.work_dir == osp.join('./work_dirs', QUICKSTART)
    with pytest.raises(SystemExit) as e:
        test_cli.main(['stmixer_r3d-tiny', 'epoch_1.pth'])
    assert str(e.value).startswith(
        command_error("config 'stmixer_r3d-tiny' is neither a config file "
                      'nor'))
    assert QUICKSTART in str(e.value)
    assert not os.listdir(tmp_path)  # refused before any work


def test_the_inferencer_takes_a_packaged_config(tools, tmp_path, monkeypatch):
    from stmixer_mm.apis import STMixerInferencer
    monkeypatch.chdir(tmp_path)
    label_map = osp.join(tools.TINY_DATA, 'annotations', 'label_map.pbtxt')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        inf = STMixerInferencer(PACKAGED, label_map=label_map)
    assert inf.cfg.filename == resolve_config(PACKAGED).path
    # a file, not a model name: no "random weights" warning
    assert not [w for w in caught if 'random weights' in str(w.message)]
    with pytest.raises(FileNotFoundError) as e:
        STMixerInferencer(PACKAGED.replace('-rgb', ''))
    assert f'close names: {PACKAGED}' in str(e.value)


def test_the_demo_names_a_misspelt_config_before_its_outputs(
        tmp_path, monkeypatch):
    """A misspelt name with outputs that exist already: the name's hint
    (close names), not "the output exists already", which hid it."""
    from stmixer_mm.apps import demo

    def exists(*args, **kwargs):
        raise OSError('out/x_det.json: the output exists already')

    monkeypatch.setattr(demo, 'check_outputs', exists)
    name = ('stmixer_mm::quickstart/stmixer_r3d-tiny_1xb8-8x2x1-36e_'
            'synthetic-ava-rgbb.py')
    with pytest.raises(
            FileNotFoundError,
            match='close names: stmixer_mm::'
            'quickstart/stmixer_r3d-tiny_1xb8-8x2x1-36e_synthetic'
            '-ava-rgb.py'):
        demo.run_demo(
            str(tmp_path / 'x.mp4'),
            name,
            'none.pth',
            out_dir=str(tmp_path / 'out'))
